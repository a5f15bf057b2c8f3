#!/usr/bin/env python3
"""PyTorch's throughput on the MNIST task's network, for comparison with
`cargo bench -p benches --bench cnn` on the same machine.

The same network as `tasks::mnist::network` with the DIV head: the left and right
halves of each 1x28x56 input are stacked into one batch of 2B single images, encoded
once by the shared CNN (conv 3x3 x32, ReLU, conv 3x3 x64, ReLU, 2x2 max-pool, dropout
0.25, dense 9216 -> 128, ReLU, dropout 0.5, dense 128 -> 9, soft-argmax over 1..9) and
split back into d1 and d2; y = d1 / d2, MSE loss, Adam (lr 1e-3).

After --warmup steps, steps are timed in groups of --steps-per-batch until --seconds
have passed (per mode); the fastest and median time per step are printed, and digit
images per second from the fastest group (2B images per step).

    python3 -m venv venv && venv/bin/pip install torch
    venv/bin/python cnn_throughput.py --threads 1 --seconds 25 --warmup 3
    venv/bin/python cnn_throughput.py --threads 2 --seconds 25 --warmup 3
"""
import argparse
import statistics
import time

import torch

p = argparse.ArgumentParser()
p.add_argument("--threads", type=int, default=1)
p.add_argument("--seconds", type=float, default=10.0,
               help="measurement budget per mode (train, eval)")
p.add_argument("--warmup", type=int, default=3)
p.add_argument("--steps-per-batch", type=int, default=3)
p.add_argument("--batch", type=int, default=128)
p.add_argument("--modes", default="train,eval")
p.add_argument("--seed", type=int, default=0)
args = p.parse_args()

# Must be set before any parallel work is done.
torch.set_num_threads(args.threads)
torch.set_num_interop_threads(1)
torch.manual_seed(args.seed)


class Encoder(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.net = torch.nn.Sequential(
            torch.nn.Conv2d(1, 32, 3), torch.nn.ReLU(),
            torch.nn.Conv2d(32, 64, 3), torch.nn.ReLU(),
            torch.nn.MaxPool2d(2), torch.nn.Dropout(0.25),
            torch.nn.Flatten(),
            torch.nn.Linear(9216, 128), torch.nn.ReLU(),
            torch.nn.Dropout(0.5),
            torch.nn.Linear(128, 9),
        )
        self.register_buffer("digits", torch.arange(1, 10, dtype=torch.float32))

    def forward(self, x):  # x: (N,1,28,28) -> (N,) expected digit in [1,9]
        return torch.softmax(self.net(x), dim=-1) @ self.digits


class DivModel(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.enc = Encoder()

    def forward(self, x):  # x: (B,1,28,56)
        b = x.shape[0]
        both = torch.cat([x[..., :28], x[..., 28:]], dim=0)  # (2B,1,28,28)
        d = self.enc(both)
        d1, d2 = d[:b], d[b:]
        return d1 / d2


B = args.batch
raw = torch.randint(0, 256, (B, 1, 28, 56), dtype=torch.uint8)
x = ((raw.float() / 255.0) - 0.1307) / 0.3081
# Targets in [1/9, 9]: ratios of random digits 1..9.
a = torch.randint(1, 10, (B,)).float()
c = torch.randint(1, 10, (B,)).float()
target = a / c

model = DivModel()
opt = torch.optim.Adam(model.parameters(), lr=1e-3)
loss_fn = torch.nn.MSELoss()
images_per_step = 2 * B
last_loss = [float("nan")]


def train_step():
    opt.zero_grad()
    y = model(x)
    loss = loss_fn(y, target)
    loss.backward()
    opt.step()
    last_loss[0] = loss.item()


def eval_step():
    with torch.no_grad():
        y = model(x)
    last_loss[0] = loss_fn(y, target).item()


def bench(mode):
    if mode == "train":
        model.train()
        step = train_step
    else:
        model.eval()
        step = eval_step
    for _ in range(args.warmup):
        step()
    k = args.steps_per_batch
    per_step = []
    t_start = time.perf_counter()
    while True:
        t0 = time.perf_counter()
        for _ in range(k):
            step()
        t1 = time.perf_counter()
        per_step.append((t1 - t0) / k)
        if t1 - t_start >= args.seconds:
            break
    fastest = min(per_step)
    median = statistics.median(per_step)
    print(f"{mode} threads={torch.get_num_threads()} "
          f"fastest_ms={fastest * 1e3:.2f} median_ms={median * 1e3:.2f} "
          f"images_per_s={images_per_step / fastest:.1f} "
          f"median_images_per_s={images_per_step / median:.1f} "
          f"groups={len(per_step)} steps_per_group={k} loss={last_loss[0]:.4f}",
          flush=True)


print(f"torch={torch.__version__} num_threads={torch.get_num_threads()} "
      f"interop_threads={torch.get_num_interop_threads()} "
      f"mkldnn={torch.backends.mkldnn.is_available() and torch.backends.mkldnn.enabled} "
      f"batch={B} images_per_step={images_per_step}", flush=True)
for m in args.modes.split(","):
    bench(m.strip())
