//! Group commit for webhook ingress: deliveries that arrive while a transaction is being
//! committed wait for it and are then written together, in one transaction with one commit, by
//! a single writer task. A commit waits for the disk, so one commit per delivery caps ingress at
//! the disk's flush rate; one per batch shares that wait among everyone who arrived during it.
//!
//! Each caller still gets its own answer only once its batch is committed (durable before the
//! 202). When a batch fails on a statement — one delivery the database refuses — its deliveries
//! are tried again one by one, so one bad delivery costs only itself; when the database cannot
//! be reached at all, every caller of the batch gets the error at once.

use super::deliveries::{IncomingDelivery, MAX_BATCH};
use super::{Accepted, Store};
use anyhow::{anyhow, Result};
use std::sync::{Arc, Mutex};
use tokio::sync::{mpsc, oneshot};
use tracing::Instrument;

/// Deliveries waiting for the writer; past it, callers wait to be queued (back-pressure).
const QUEUE: usize = 4 * MAX_BATCH;

type Reply = oneshot::Sender<Result<Accepted, Arc<anyhow::Error>>>;

struct Pending {
    delivery: IncomingDelivery,
    /// The webhook's span, so what the writer logs for this delivery is attributed to it.
    span: tracing::Span,
    reply: Reply,
}

/// The way into the writer task, started on first use on the caller's runtime (and again if
/// that runtime has gone, as between tests).
#[derive(Clone, Default)]
pub(super) struct Ingress {
    queue: Arc<Mutex<Option<mpsc::Sender<Pending>>>>,
}

impl Ingress {
    fn sender(&self, store: &Store) -> mpsc::Sender<Pending> {
        let mut queue = self.queue.lock().unwrap_or_else(|e| e.into_inner());
        match &*queue {
            Some(tx) if !tx.is_closed() => tx.clone(),
            _ => {
                let (tx, rx) = mpsc::channel(QUEUE);
                // The writer holds a store without this queue, so dropping the last handle of
                // the store ends the writer.
                let writer = Store {
                    pool: store.pool.clone(),
                    dialect: store.dialect,
                    ingress: Ingress::default(),
                };
                tokio::spawn(write_batches(writer, rx));
                *queue = Some(tx.clone());
                tx
            }
        }
    }

    pub(super) async fn accept(
        &self,
        store: &Store,
        delivery: IncomingDelivery,
    ) -> Result<Accepted> {
        let (reply, answer) = oneshot::channel();
        let pending = Pending {
            delivery,
            span: tracing::Span::current(),
            reply,
        };
        let pending = match self.sender(store).send(pending).await {
            Ok(()) => return receive(answer).await,
            Err(mpsc::error::SendError(pending)) => pending,
        };
        // The writer's runtime is gone: start another on this one.
        match self.sender(store).send(pending).await {
            Ok(()) => receive(answer).await,
            Err(mpsc::error::SendError(pending)) => {
                let mut results = store.accept_deliveries(&[pending.delivery]).await?;
                Ok(results.remove(0))
            }
        }
    }
}

async fn receive(
    answer: oneshot::Receiver<Result<Accepted, Arc<anyhow::Error>>>,
) -> Result<Accepted> {
    match answer.await {
        Ok(Ok(accepted)) => Ok(accepted),
        Ok(Err(e)) => Err(anyhow!("{e:#}")),
        Err(_) => Err(anyhow!(
            "the delivery writer stopped before recording the delivery"
        )),
    }
}

/// Takes whatever has queued up (at least one), writes it as one batch, answers everyone in it,
/// and starts over; ends when every handle of the store is gone.
async fn write_batches(store: Store, mut queue: mpsc::Receiver<Pending>) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    while queue.recv_many(&mut batch, MAX_BATCH).await > 0 {
        write(&store, std::mem::take(&mut batch)).await;
    }
}

async fn write(store: &Store, batch: Vec<Pending>) {
    let size = batch.len();
    let mut deliveries = Vec::with_capacity(size);
    let mut spans = Vec::with_capacity(size);
    let mut replies = Vec::with_capacity(size);
    for p in batch {
        deliveries.push(p.delivery);
        spans.push(p.span);
        replies.push(p.reply);
    }
    let outcome = store
        .accept_batch(&deliveries, &spans)
        .instrument(tracing::debug_span!("ingress_batch", deliveries = size))
        .await;
    match outcome {
        Ok(results) => {
            for (reply, accepted) in replies.into_iter().zip(results) {
                let _ = reply.send(Ok(accepted));
            }
        }
        Err(e) if size > 1 && refused_by_database(&e) => {
            tracing::warn!(error = %format!("{e:#}"), deliveries = size,
                "a batch of deliveries failed; recording them one by one");
            for ((delivery, span), reply) in deliveries.iter().zip(&spans).zip(replies) {
                let answer = store
                    .accept_batch(std::slice::from_ref(delivery), std::slice::from_ref(span))
                    .await
                    .map(|mut r| r.remove(0))
                    .map_err(Arc::new);
                let _ = reply.send(answer);
            }
        }
        Err(e) => {
            let e = Arc::new(e);
            for reply in replies {
                let _ = reply.send(Err(e.clone()));
            }
        }
    }
}

/// True when the database ran the batch and refused a statement of it (as opposed to not
/// being reachable): then the others of the batch may well succeed on their own.
fn refused_by_database(e: &anyhow::Error) -> bool {
    e.chain().any(|cause| {
        matches!(
            cause.downcast_ref::<sqlx::Error>(),
            Some(sqlx::Error::Database(_))
        )
    })
}
