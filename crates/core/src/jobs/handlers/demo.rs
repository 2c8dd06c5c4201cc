//! The `demo` handler (CONTRACT.md §6.4): sleeps `simulate_ms` in up to 5 progress steps.

use std::time::Duration;

use serde_json::Value;

use crate::jobs::{BoxFuture, Failure, JobCtx, Outcome, Success};

/// Runs a `demo` job.
pub fn demo(ctx: JobCtx) -> BoxFuture<Outcome> {
    Box::pin(async move {
        ctx.set_running(0.0, None)
            .await
            .map_err(|e| Failure::new(e.to_string()))?;
        let seconds = simulate_seconds(ctx.job.payload.get("simulate_ms")).map_err(Failure::new)?;
        let steps: u32 = if seconds <= 0.0 {
            1
        } else {
            ((seconds / 0.2).floor() as u32).clamp(1, 5)
        };
        let pause = Duration::from_secs_f64((seconds.max(0.0)) / f64::from(steps));
        for k in 1..=steps {
            // A zero pause would still wait for the timer wheel's next tick (about 1 ms).
            if !pause.is_zero() {
                tokio::select! {
                    _ = tokio::time::sleep(pause) => {}
                    _ = ctx.abort().fired() => return Err(Failure::new("job was stopped")),
                }
            }
            let progress = (f64::from(k) / f64::from(steps) * 100.0).round() / 100.0;
            ctx.progress(
                progress,
                Some(format!("progress {progress:.2}")),
                true,
                None,
            )
            .await
            .map_err(|e| Failure::new(e.to_string()))?;
        }
        Ok(Success::with_result(None))
    })
}

/// `float(payload.get("simulate_ms", 0)) / 1000` with Python's error texts.
fn simulate_seconds(value: Option<&Value>) -> Result<f64, String> {
    let ms = match value {
        None => 0.0,
        Some(Value::Number(n)) => n.as_f64().unwrap_or(0.0),
        Some(Value::Bool(b)) => f64::from(u8::from(*b)),
        Some(Value::String(s)) => s
            .trim()
            .parse::<f64>()
            .map_err(|_| format!("could not convert string to float: '{s}'"))?,
        Some(Value::Null) => {
            return Err("float() argument must be a string or a real number, not 'NoneType'".into())
        }
        Some(Value::Array(_)) => {
            return Err("float() argument must be a string or a real number, not 'list'".into())
        }
        Some(Value::Object(_)) => {
            return Err("float() argument must be a string or a real number, not 'dict'".into())
        }
    };
    if !ms.is_finite() {
        return Err("simulate_ms must be finite".into());
    }
    // Bound a demo to one hour so a typo cannot park a worker for days.
    Ok((ms / 1000.0).min(3600.0))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn reads_simulate_ms_like_python() {
        assert_eq!(simulate_seconds(None), Ok(0.0));
        assert_eq!(simulate_seconds(Some(&json!(500))), Ok(0.5));
        assert_eq!(simulate_seconds(Some(&json!("250"))), Ok(0.25));
        assert!(simulate_seconds(Some(&json!("abc")))
            .unwrap_err()
            .contains("could not convert"));
        assert!(simulate_seconds(Some(&json!(null))).is_err());
    }
}
