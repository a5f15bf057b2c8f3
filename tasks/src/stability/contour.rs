//! Contour lines of a grid of values by marching squares: for each level, the segments
//! where the bilinear surface through the grid crosses it.

/// A line segment in grid coordinates (x along a row, y across rows).
pub type Segment = ((f64, f64), (f64, f64));

/// The segments at `level` of `values` (`nx` per row, `ny` rows, row-major). Cells with a
/// NaN corner are skipped; a saddle cell is resolved by the value at its centre.
pub fn segments(values: &[f64], nx: usize, ny: usize, level: f64) -> Vec<Segment> {
    assert_eq!(values.len(), nx * ny, "grid of {nx} x {ny}");
    let mut out = Vec::new();
    let at = |i: usize, j: usize| values[j * nx + i];
    for j in 0..ny.saturating_sub(1) {
        for i in 0..nx.saturating_sub(1) {
            // corners counter-clockwise from the bottom left
            let c = [at(i, j), at(i + 1, j), at(i + 1, j + 1), at(i, j + 1)];
            if c.iter().any(|v| v.is_nan()) {
                continue;
            }
            let p = [
                (i as f64, j as f64),
                ((i + 1) as f64, j as f64),
                ((i + 1) as f64, (j + 1) as f64),
                (i as f64, (j + 1) as f64),
            ];
            // where edge k (corner k to corner k + 1) crosses the level, if it does
            let crossing = |k: usize| {
                let (a, b) = (c[k], c[(k + 1) % 4]);
                if (a < level) == (b < level) {
                    return None;
                }
                let t = ((level - a) / (b - a)).clamp(0.0, 1.0);
                let (pa, pb) = (p[k], p[(k + 1) % 4]);
                Some((pa.0 + t * (pb.0 - pa.0), pa.1 + t * (pb.1 - pa.1)))
            };
            let points: Vec<(usize, (f64, f64))> =
                (0..4).filter_map(|k| crossing(k).map(|q| (k, q))).collect();
            match points.len() {
                2 => out.push((points[0].1, points[1].1)),
                4 => {
                    // a saddle: corners 0 and 2 on one side, 1 and 3 on the other
                    let centre = c.iter().sum::<f64>() / 4.0;
                    let first_above = c[0] >= level;
                    if (centre >= level) == first_above {
                        // corner 0's side connects through the centre: cut off corners 1, 3
                        out.push((points[0].1, points[1].1));
                        out.push((points[2].1, points[3].1));
                    } else {
                        out.push((points[3].1, points[0].1));
                        out.push((points[1].1, points[2].1));
                    }
                }
                _ => {}
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cone_gives_a_closed_ring_at_the_right_radius() {
        // v = distance from the centre of a 21 x 21 grid: the level-5.5 contour is a circle
        // (no grid point lies exactly on it)
        let n = 21;
        let values: Vec<f64> = (0..n * n)
            .map(|k| {
                let (i, j) = ((k % n) as f64 - 10.0, (k / n) as f64 - 10.0);
                (i * i + j * j).sqrt()
            })
            .collect();
        let segs = segments(&values, n, n, 5.5);
        assert!(segs.len() > 20);
        for ((x0, y0), (x1, y1)) in &segs {
            for (x, y) in [(x0, y0), (x1, y1)] {
                let r = ((x - 10.0).powi(2) + (y - 10.0).powi(2)).sqrt();
                assert!((r - 5.5).abs() < 0.1, "{r}");
            }
        }
        // every end point is shared by exactly two segments: the ring is closed
        let key = |p: &(f64, f64)| ((p.0 * 1e6).round() as i64, (p.1 * 1e6).round() as i64);
        let mut ends = std::collections::HashMap::new();
        for (a, b) in &segs {
            *ends.entry(key(a)).or_insert(0) += 1;
            *ends.entry(key(b)).or_insert(0) += 1;
        }
        assert!(ends.values().all(|&c| c == 2));
        assert!(segments(&values, n, n, 100.0).is_empty());
    }
}
