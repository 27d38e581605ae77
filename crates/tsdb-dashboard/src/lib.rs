//! # tsdb-dashboard (not built yet)
//!
//! Will own dashboards and widgets (LINE_CHART, BAR_CHART, SINGLE_STAT, TABLE,
//! HEATMAP), their JSON form, the resolution rule, widget data, live subscriptions
//! and alert banners.
//!
//! Public API to come: `Dashboard`, `Widget`, `WidgetKind`, `WidgetQuery`, `render_data`.
#![deny(missing_docs)]
