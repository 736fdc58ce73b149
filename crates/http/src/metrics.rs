//! The metrics `/metrics` serves (see `ops`), in the Prometheus text format: requests by route and status,
//! a latency histogram by route, the outbox's depth and the age of its
//! oldest due notification, the outbox's deliveries by channel (`v3`
//! callbacks, `mp` and `component` pushes) and outcome, the sends in flight
//! and the destinations backed off.

use std::time::Duration;

use prometheus_client::encoding::text::encode;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

use koudai_domain::schedule::Channel;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    method: String,
    route: String,
    status: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabels {
    method: String,
    route: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutcomeLabels {
    channel: String,
    outcome: String,
}

type HistogramFamily = Family<RouteLabels, Histogram, fn() -> Histogram>;

/// 1 ms to about 16 s, doubling.
fn latency_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.001, 2.0, 15))
}

/// The registry and the metrics the layers and the scrape update.
#[derive(Debug)]
pub struct HttpMetrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    latency: HistogramFamily,
    outbox_depth: Gauge,
    outbox_oldest_due_age: Gauge,
    deliveries: Family<OutcomeLabels, Counter>,
    in_flight: Gauge,
    backed_off: Gauge,
    scraping: std::sync::Mutex<()>,
}

impl Default for HttpMetrics {
    fn default() -> Self {
        HttpMetrics::new()
    }
}

impl HttpMetrics {
    pub fn new() -> HttpMetrics {
        let mut registry = Registry::with_prefix("koudai");
        let requests = Family::<RequestLabels, Counter>::default();
        let latency: HistogramFamily = Family::new_with_constructor(latency_histogram);
        let outbox_depth = Gauge::default();
        let outbox_oldest_due_age = Gauge::default();
        let deliveries = Family::<OutcomeLabels, Counter>::default();
        let in_flight = Gauge::default();
        let backed_off = Gauge::default();
        registry.register("http_requests", "HTTP requests answered, by route and status", requests.clone());
        registry.register("http_request_duration_seconds", "Time to answer, by route", latency.clone());
        registry.register("outbox_pending", "Callbacks waiting to be delivered", outbox_depth.clone());
        registry.register(
            "outbox_oldest_due_age_seconds",
            "How long the oldest due callback has waited (business seconds)",
            outbox_oldest_due_age.clone(),
        );
        registry.register(
            "callback_deliveries",
            "Delivery attempts of the outbox (callbacks and pushes), by channel and outcome",
            deliveries.clone(),
        );
        registry.register("outbox_in_flight", "Deliveries being sent right now", in_flight.clone());
        registry.register(
            "outbox_destinations_backed_off",
            "Destinations whose circuit breaker is open (no answer several times in a row)",
            backed_off.clone(),
        );
        HttpMetrics {
            registry,
            requests,
            latency,
            outbox_depth,
            outbox_oldest_due_age,
            deliveries,
            in_flight,
            backed_off,
            scraping: std::sync::Mutex::new(()),
        }
    }

    /// Brings the gauges and the delivery counters up to date and encodes
    /// everything in the Prometheus text format. `outbox` is `(pending,
    /// oldest due)`, `now` business seconds, `deliveries` the outbox's
    /// counters by channel and outcome, `sending` `(sends in flight,
    /// destinations backed off)`.
    pub fn encode(
        &self,
        outbox: (i64, Option<i64>),
        now: i64,
        deliveries: &[(Channel, &'static str, u64)],
        sending: (usize, usize),
    ) -> Result<String, std::fmt::Error> {
        // One scrape at a time: the delivery counters catch up by difference.
        let _one = self.scraping.lock().map_err(|_| std::fmt::Error)?;
        let (depth, oldest) = outbox;
        self.outbox_depth.set(depth);
        self.outbox_oldest_due_age.set(oldest.map_or(0, |due| (now - due).max(0)));
        self.in_flight.set(i64::try_from(sending.0).unwrap_or(i64::MAX));
        self.backed_off.set(i64::try_from(sending.1).unwrap_or(i64::MAX));
        for (channel, outcome, total) in deliveries {
            let labels = OutcomeLabels { channel: channel.as_str().to_owned(), outcome: (*outcome).to_owned() };
            let counter = self.deliveries.get_or_create(&labels);
            // The counters are kept by the delivery job; catch up with it.
            let seen = counter.get();
            if *total > seen {
                counter.inc_by(total - seen);
            }
        }
        let mut text = String::new();
        encode(&mut text, &self.registry)?;
        Ok(text)
    }

    pub fn observe_request(&self, method: &str, route: &str, status: u16, elapsed: Duration) {
        // Any method name is accepted on the wire; only the standard ones
        // become label values, so clients cannot mint series.
        let method = match method {
            "GET" | "POST" | "PUT" | "PATCH" | "DELETE" | "HEAD" | "OPTIONS" => method,
            _ => "OTHER",
        };
        let route_labels = RouteLabels { method: method.to_owned(), route: route.to_owned() };
        self.latency.get_or_create(&route_labels).observe(elapsed.as_secs_f64());
        let labels = RequestLabels { method: method.to_owned(), route: route.to_owned(), status: status.to_string() };
        self.requests.get_or_create(&labels).inc();
    }
}
