//! Background work inside `koudai serve`, the only module that imports
//! every context (the outbox's dispatcher, `outbox::run`, runs beside it,
//! so that no job waits on a callback and no callback on a job): finishing
//! refunds and profit sharing whose processing time has passed, unfreezing
//! funds held for sharing, settling each business day as the business clock
//! crosses midnight (China time), moving onboarding applications past their
//! deadlines, pushing third-party platforms' verify tickets every ten
//! minutes of business time, the shop sweep (releasing unpaid reservations,
//! confirming receipt long after shipping), re-evaluating every account's
//! capabilities, repairing discovery attribution, closing expired orders,
//! purging expired sessions and nonces, and re-reading the business clock
//! (another node may have moved it). One loop, woken by new work or every
//! [`IDLE_POLL`]; it stops when its token is cancelled.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::App;

/// How often the loop looks for due work when nothing wakes it.
const IDLE_POLL: Duration = Duration::from_millis(500);
/// How often the periodic jobs (settlement, expiry, purges) run.
const PERIODIC: Duration = Duration::from_secs(1);
/// How often every account's capabilities are re-evaluated (the events
/// that change facts do it at once; this repairs anything missed, such
/// as a privilege that lapsed at its expiry).
const SWEEP: Duration = Duration::from_secs(60);

pub fn spawn(app: Arc<App>, stop: CancellationToken) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut last_periodic: Option<Instant> = None;
        let mut last_sweep: Option<Instant> = None;
        while !stop.is_cancelled() {
            // While the database does not answer, wait for it rather than
            // fail every job once a pass (`runtime::health`).
            let Some(busy) = app.database.while_reachable(pass(&app, &mut last_periodic, &mut last_sweep)).await else {
                tokio::select! {
                    () = app.database.back() => {}
                    () = stop.cancelled() => {}
                }
                continue;
            };
            if !busy {
                tokio::select! {
                    _ = app.wake.jobs.notified() => {}
                    _ = tokio::time::sleep(IDLE_POLL) => {}
                    _ = stop.cancelled() => {}
                }
            }
        }
        // Nothing counted is left behind by a clean stop.
        if let Err(e) = crate::discovery::flush_impressions(&app).await {
            tracing::warn!(error = %e, "writing directory impressions at stop failed");
        }
    })
}

/// One pass of every job that is due; whether any had work (then the
/// next pass follows at once).
async fn pass(app: &App, last_periodic: &mut Option<Instant>, last_sweep: &mut Option<Instant>) -> bool {
    let finished = crate::payments::refunds::finish_due(app).await.unwrap_or_else(|e| {
        tracing::warn!(error = %e, "finishing refunds failed");
        0
    });
    let shared = crate::payments::sharing::finish_due(app).await.unwrap_or_else(|e| {
        tracing::warn!(error = %e, "finishing profit sharing failed");
        0
    });
    if last_periodic.is_none_or(|t| t.elapsed() >= PERIODIC) {
        *last_periodic = Some(Instant::now());
        periodic(app).await;
    }
    if last_sweep.is_none_or(|t| t.elapsed() >= SWEEP) {
        *last_sweep = Some(Instant::now());
        let now = app.clock.business_now().unix();
        match crate::access::eligibility::refresh_all(&app.store, now, "periodic re-evaluation").await {
            Ok(0) => {}
            Ok(n) => tracing::info!(capabilities.changed = n, "re-evaluated capabilities"),
            Err(e) => tracing::warn!(error = %e, "re-evaluating capabilities failed"),
        }
        match crate::discovery::repair(app).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(orders.attributed = n, "attributed payments left unattributed"),
            Err(e) => tracing::warn!(error = %e, "repairing discovery attribution failed"),
        }
    }
    finished > 0 || shared > 0
}

async fn periodic(app: &App) {
    if let Err(e) = crate::discovery::flush_impressions(app).await {
        tracing::warn!(error = %e, "writing directory impressions failed; they stay counted for the next flush");
    }
    // Another node may have moved the sandbox clock.
    if let Err(e) = app.clock.refresh(&app.store).await {
        tracing::warn!(error = %e, "re-reading the business clock failed");
    }
    let now = app.clock.business_now();
    match crate::payments::sharing::unfreeze_due(app).await {
        Ok(0) => {}
        Ok(n) => tracing::info!(orders.unfrozen = n, "unfroze profit-sharing funds after 30 days"),
        Err(e) => tracing::warn!(error = %e, "unfreezing profit-sharing funds failed"),
    }
    match crate::payments::settlement::settle_due_days(&app.store, &app.rng, now).await {
        Ok(days) if days.is_empty() => {}
        Ok(days) => tracing::info!(days = ?days, "settled business days"),
        Err(e) => tracing::warn!(error = %e, "settlement failed"),
    }
    match crate::parties::onboarding::advance_due(app).await {
        Ok(0) => {}
        Ok(n) => tracing::info!(applyments.moved = n, "finished or cancelled applications"),
        Err(e) => tracing::warn!(error = %e, "moving applications on failed"),
    }
    match crate::mp::component::push_due_tickets(app).await {
        Ok(0) => {}
        Ok(n) => tracing::info!(tickets.pushed = n, "pushed component verify tickets"),
        Err(e) => tracing::warn!(error = %e, "pushing component verify tickets failed"),
    }
    match crate::commerce::shop_orders::sweep(app).await {
        Ok(0) => {}
        Ok(n) => tracing::info!(shop_orders.moved = n, "released stale reservations or confirmed receipt"),
        Err(e) => tracing::warn!(error = %e, "the shop order sweep failed"),
    }
    match app.store.expire_orders(now.unix()).await {
        Ok(0) => {}
        Ok(n) => tracing::info!(orders.closed = n, "closed expired orders"),
        Err(e) => tracing::warn!(error = %e, "closing expired orders failed"),
    }
    match app.store.purge_nonces(app.clock.wall_now().unix()).await {
        Ok(_) => {}
        Err(e) => tracing::warn!(error = %e, "purging old nonces failed"),
    }
    match app.store.purge_sessions(app.clock.wall_now().unix()).await {
        Ok(0) => {}
        Ok(n) => tracing::debug!(sessions.purged = n, "purged expired sessions"),
        Err(e) => tracing::warn!(error = %e, "purging expired sessions failed"),
    }
}
