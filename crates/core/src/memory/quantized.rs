//! A one-byte-per-dimension copy of the vectors, to find the few rows an exact search must
//! score (CONTRACT.md §15.3 asks for exact search; this changes no result).
//!
//! Why: the exact scan reads every float of every vector (150 MB at 100,000 × 384) per query
//! and is bound by memory bandwidth (≈ 12 ms on two threads here). A row stored as `i8` with a
//! scale is a quarter of the bytes, and with AVX2 its dot product with the query (quantized
//! to `i16`) is a few instructions per 16 dimensions: the whole pass takes ≈ 4 ms on one core.
//!
//! Exactness: each row keeps the norm of its rounding error `r` (the distance between the
//! normalized vector and its quantized form), and the query its own `e`. For unit vectors the
//! exact cosine differs from the approximate one by at most `r + e·(1 + r)` (Cauchy–Schwarz,
//! twice), plus float slack. The search scores exactly the best rows by the approximation,
//! which gives a threshold `T` (the `limit`-th best exact score among them, a lower bound of
//! the true one); every row whose approximate score plus its bound reaches `T` is then scored
//! exactly too. No row of the true top `limit` can be left out, and the final order is the
//! exact scores' (ties by position), identical to the full scan.
//!
//! Used on x86-64 processors with AVX2 (checked at run time); elsewhere the exact scan runs.

/// Float slack added to every bound (rounding of the two dot products).
const SLACK: f32 = 1e-5;

/// The quantized rows of a vector index.
#[derive(Debug, Default)]
pub struct Quantized {
    dim: usize,
    /// `dim` values per row.
    data: Vec<i8>,
    /// Per row: the value of one step.
    scale: Vec<f32>,
    /// Per row: an upper bound of the norm of the rounding error.
    error: Vec<f32>,
}

/// `v` (a unit vector or zero) as `i8` steps, the step, and the rounding error's norm.
fn quantize(v: &[f32]) -> (Vec<i8>, f32, f32) {
    let max = v.iter().fold(0f32, |m, x| m.max(x.abs()));
    if max == 0.0 {
        return (vec![0; v.len()], 0.0, 0.0);
    }
    let step = max / 127.0;
    let q: Vec<i8> = v
        .iter()
        .map(|x| (x / step).round().clamp(-127.0, 127.0) as i8)
        .collect();
    let err: f64 = v
        .iter()
        .zip(&q)
        .map(|(x, s)| {
            let d = f64::from(*x) - f64::from(step) * f64::from(*s);
            d * d
        })
        .sum::<f64>()
        .sqrt();
    (q, step, (err * 1.0001) as f32 + 1e-7)
}

impl Quantized {
    /// An empty copy for vectors of `dim` dimensions.
    pub fn new(dim: usize) -> Quantized {
        Quantized {
            dim,
            ..Quantized::default()
        }
    }

    /// Sets row `i` (the next row when `i` is the row count) from a normalized vector.
    pub fn set(&mut self, i: usize, v: &[f32]) {
        let (q, step, err) = quantize(v);
        if i == self.scale.len() {
            self.data.extend_from_slice(&q);
            self.scale.push(step);
            self.error.push(err);
        } else if i < self.scale.len() {
            self.data[i * self.dim..(i + 1) * self.dim].copy_from_slice(&q);
            self.scale[i] = step;
            self.error[i] = err;
        }
    }

    /// Whether this processor runs the quantized pass.
    pub fn available() -> bool {
        #[cfg(target_arch = "x86_64")]
        {
            std::is_x86_feature_detected!("avx2")
        }
        #[cfg(not(target_arch = "x86_64"))]
        {
            false
        }
    }

    /// Approximate scores of rows `from..to` into `out` (one per row; `NEG_INFINITY` where
    /// `admit` refuses the row), and each admitted row's bound, for the unit query `q`
    /// quantized as `query`. Only called when [`Quantized::available`].
    pub fn approximate(
        &self,
        query: &Query,
        from: usize,
        admit: &(dyn Fn(usize) -> bool + Sync),
        out: &mut [f32],
    ) {
        for (k, slot) in out.iter_mut().enumerate() {
            let i = from + k;
            if !admit(i) {
                *slot = f32::NEG_INFINITY;
                continue;
            }
            let row = &self.data[i * self.dim..(i + 1) * self.dim];
            let dot = idot(row, &query.steps);
            *slot = self.scale[i] * query.step * dot as f32;
        }
    }

    /// The most the exact score of row `i` can exceed its approximation.
    pub fn bound(&self, i: usize, query: &Query) -> f32 {
        let r = self.error[i];
        r + query.error * (1.0 + r) + SLACK
    }
}

/// A unit query quantized to `i16` steps.
pub struct Query {
    steps: Vec<i16>,
    step: f32,
    error: f32,
}

impl Query {
    /// `None` for a zero query, or dimensions too many for exact `i32` sums (the exact scan
    /// handles those).
    pub fn new(q: &[f32]) -> Option<Query> {
        let max = q.iter().fold(0f32, |m, x| m.max(x.abs()));
        // |Σ a·b| ≤ 127 · top · dim must fit an i32 (Cauchy–Schwarz over the steps).
        let top = (i32::MAX as usize / (127 * q.len().max(1))).min(32767);
        if max == 0.0 || !max.is_finite() || top < 1024 {
            return None;
        }
        let top = top as f32;
        let step = max / top;
        let steps: Vec<i16> = q
            .iter()
            .map(|x| (x / step).round().clamp(-top, top) as i16)
            .collect();
        let err: f64 = q
            .iter()
            .zip(&steps)
            .map(|(x, s)| {
                let d = f64::from(*x) - f64::from(step) * f64::from(*s);
                d * d
            })
            .sum::<f64>()
            .sqrt();
        Some(Query {
            steps,
            step,
            error: (err * 1.0001) as f32 + 1e-7,
        })
    }
}

/// `Σ a·b` over `i8 × i16`, exact in `i32` for the steps [`Query::new`] makes (it bounds the
/// query's steps so that no partial sum can overflow).
fn idot(a: &[i8], b: &[i16]) -> i32 {
    #[cfg(target_arch = "x86_64")]
    {
        if std::is_x86_feature_detected!("avx2") {
            // SAFETY: the processor supports AVX2 (checked just above).
            return unsafe { idot_avx2(a, b) };
        }
    }
    a.iter()
        .zip(b)
        .map(|(x, y)| i32::from(*x) * i32::from(*y))
        .sum()
}

/// [`idot`] with AVX2: 16 dimensions widened to `i16`, multiplied and pair-summed to `i32`
/// (`vpmaddwd`), two accumulators.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn idot_avx2(a: &[i8], b: &[i16]) -> i32 {
    use std::arch::x86_64::*;
    let n = a.len().min(b.len());
    let whole = n / 32 * 32;
    let (mut acc, mut acc2) = (_mm256_setzero_si256(), _mm256_setzero_si256());
    let mut i = 0;
    while i < whole {
        // SAFETY: `i + 32 <= n`, so both 16-byte loads of `a` and both 32-byte loads of `b`
        // are inside the slices; unaligned loads are used.
        unsafe {
            let x = _mm256_cvtepi8_epi16(_mm_loadu_si128(a.as_ptr().add(i) as *const __m128i));
            let y = _mm256_loadu_si256(b.as_ptr().add(i) as *const __m256i);
            acc = _mm256_add_epi32(acc, _mm256_madd_epi16(x, y));
            let x = _mm256_cvtepi8_epi16(_mm_loadu_si128(a.as_ptr().add(i + 16) as *const __m128i));
            let y = _mm256_loadu_si256(b.as_ptr().add(i + 16) as *const __m256i);
            acc2 = _mm256_add_epi32(acc2, _mm256_madd_epi16(x, y));
        }
        i += 32;
    }
    let mut lanes = [0i32; 8];
    // SAFETY: `lanes` is 32 bytes; unaligned store.
    unsafe {
        _mm256_storeu_si256(
            lanes.as_mut_ptr() as *mut __m256i,
            _mm256_add_epi32(acc, acc2),
        )
    };
    let mut sum: i32 = lanes.iter().sum();
    for k in whole..n {
        sum += i32::from(a[k]) * i32::from(b[k]);
    }
    sum
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_avx2_dot_equals_the_plain_one() {
        let a: Vec<i8> = (0..77).map(|i| ((i * 37) % 255 - 127) as i8).collect();
        let b: Vec<i16> = (0..77)
            .map(|i| ((i * 9973) % 65535 - 32767) as i16)
            .collect();
        let plain: i32 = a
            .iter()
            .zip(&b)
            .map(|(x, y)| i32::from(*x) * i32::from(*y))
            .sum();
        assert_eq!(idot(&a, &b), plain);
    }

    #[test]
    fn the_bound_holds() {
        let mut q = Quantized::new(5);
        let v = [0.6f32, -0.1, 0.3, 0.7, 0.2];
        let n = v.iter().map(|x| x * x).sum::<f32>().sqrt();
        let v: Vec<f32> = v.iter().map(|x| x / n).collect();
        q.set(0, &v);
        let query: Vec<f32> = vec![0.1, 0.9, -0.3, 0.2, 0.2];
        let m = query.iter().map(|x| x * x).sum::<f32>().sqrt();
        let query: Vec<f32> = query.iter().map(|x| x / m).collect();
        let qq = Query::new(&query).unwrap();
        let mut out = [0f32; 1];
        q.approximate(&qq, 0, &|_| true, &mut out);
        let exact: f32 = v.iter().zip(&query).map(|(a, b)| a * b).sum();
        assert!((exact - out[0]).abs() <= q.bound(0, &qq));
        assert!(q.bound(0, &qq) < 0.05);
        assert!(Query::new(&[0.0, 0.0]).is_none());
    }
}
