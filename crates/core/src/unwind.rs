//! Panics kept inside: a future polled with its panics caught (CONTRACT rule: no panic
//! crosses into the host). Shared by the job workers, the HTTP adapter and the binding.

use std::any::Any;
use std::future::Future;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::Pin;
use std::task::{Context, Poll};

/// What a panic carried.
pub type Panic = Box<dyn Any + Send>;

/// Polls `fut` once, turning a panic into `Ready(Err(panic))`.
pub fn poll_caught<F: Future + ?Sized>(
    fut: Pin<&mut F>,
    cx: &mut Context<'_>,
) -> Poll<Result<F::Output, Panic>> {
    match catch_unwind(AssertUnwindSafe(|| fut.poll(cx))) {
        Ok(Poll::Ready(value)) => Poll::Ready(Ok(value)),
        Ok(Poll::Pending) => Poll::Pending,
        Err(panic) => Poll::Ready(Err(panic)),
    }
}

/// `fut`, finishing with `Err(panic)` instead of unwinding when a poll panics.
pub struct CatchUnwind<F>(pub F);

impl<F: Future + Unpin> Future for CatchUnwind<F> {
    type Output = Result<F::Output, Panic>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        poll_caught(Pin::new(&mut self.0), cx)
    }
}

/// The message of a panic (`&str` or `String` payloads), else `fallback`.
pub fn panic_text(panic: &Panic, fallback: &str) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| fallback.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_panicking_future_ends_with_its_message() {
        let fut: Pin<Box<dyn Future<Output = ()> + Send>> = Box::pin(async { panic!("boom") });
        let panic = CatchUnwind(fut).await.unwrap_err();
        assert_eq!(panic_text(&panic, "?"), "boom");
        assert_eq!(CatchUnwind(Box::pin(async { 7 })).await.unwrap(), 7);
    }
}
