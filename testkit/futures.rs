//! Running the core's futures on the test thread: the fake platform never pends unless a test asks it to
//! (`FakePlatform::yield_on_send`), and then these joins interleave flows like requests in one isolate.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

/// Run a future to completion on this thread.
pub fn block_on<F: Future>(f: F) -> F::Output {
    pollster::block_on(f)
}

/// A future that is pending once (like a real `fetch` in flight), then ready.
pub struct YieldOnce(pub bool);

impl Future for YieldOnce {
    type Output = ();
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.0 {
            Poll::Ready(())
        } else {
            self.0 = true;
            cx.waker().wake_by_ref();
            Poll::Pending
        }
    }
}

/// Runs two futures concurrently on one thread, like two requests in one Workers isolate.
pub struct Join2<A: Future, B: Future> {
    a: Pin<Box<A>>,
    b: Pin<Box<B>>,
    ra: Option<A::Output>,
    rb: Option<B::Output>,
}

impl<A: Future, B: Future> Future for Join2<A, B>
where
    A::Output: Unpin,
    B::Output: Unpin,
{
    type Output = (A::Output, B::Output);
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = &mut *self;
        if this.ra.is_none() {
            if let Poll::Ready(v) = this.a.as_mut().poll(cx) {
                this.ra = Some(v);
            }
        }
        if this.rb.is_none() {
            if let Poll::Ready(v) = this.b.as_mut().poll(cx) {
                this.rb = Some(v);
            }
        }
        match (this.ra.take(), this.rb.take()) {
            (Some(a), Some(b)) => Poll::Ready((a, b)),
            (a, b) => {
                this.ra = a;
                this.rb = b;
                Poll::Pending
            }
        }
    }
}

pub fn join2<A: Future, B: Future>(a: A, b: B) -> Join2<A, B> {
    Join2 { a: Box::pin(a), b: Box::pin(b), ra: None, rb: None }
}

/// Runs any number of futures concurrently on one thread (a burst of requests in one isolate), polling them in
/// order.
pub struct JoinAll<F: Future> {
    futures: Vec<Pin<Box<F>>>,
    results: Vec<Option<F::Output>>,
}

impl<F: Future> Future for JoinAll<F>
where
    F::Output: Unpin,
{
    type Output = Vec<F::Output>;
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = &mut *self;
        for (future, result) in this.futures.iter_mut().zip(this.results.iter_mut()) {
            if result.is_none() {
                if let Poll::Ready(v) = future.as_mut().poll(cx) {
                    *result = Some(v);
                }
            }
        }
        if this.results.iter().all(Option::is_some) {
            Poll::Ready(this.results.iter_mut().filter_map(Option::take).collect())
        } else {
            Poll::Pending
        }
    }
}

pub fn join_all<F: Future>(futures: impl IntoIterator<Item = F>) -> JoinAll<F> {
    let futures: Vec<_> = futures.into_iter().map(Box::pin).collect();
    let results = futures.iter().map(|_| None).collect();
    JoinAll { futures, results }
}
