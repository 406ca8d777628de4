"""The practice overview and a client's page, each with its alerts: the one way the pages read them.

Both are composed from the read model the writes keep in the store (core/db/figures.py: attributed
sessions, sums per assignment and day, pain per assignment, last session per client) through one
metric pipeline (core.analytics.metrics). Views of the practice read a period's figures kept per
client (core.analytics.period_figures), computing only the clients a write has changed since, so
any process (a server, a second server, the CLI) reads the same rows. The pages cache the result
with ``st.cache_data`` keyed on ``Store.version``; nothing else is kept in memory.
"""

from __future__ import annotations

from datetime import date

import pandas as pd

from core.analytics import alerts
from core.analytics import metrics
from core.analytics.alerts import ALERT_DAYS
from core.analytics.metrics import Overview, Scope
from core.analytics import period_figures
from core.analytics.period_figures import practice_pipeline
from core.db.store import Store


def practice_overview(store: Store, scope: Scope) -> tuple[Overview, pd.DataFrame]:
    """The overview and its open alerts for ``scope`` (one pipeline when the period is the alert
    window, whose tables the alerts read too)."""
    if scope.days != ALERT_DAYS:
        return practice_figures(store, scope), open_alerts(store, scope)
    with practice_pipeline(store, scope) as run:
        return metrics.overview_from(run, also=lambda r: alerts.current_alerts(store, scope, open_only=True, run=r))


def practice_figures(store: Store, scope: Scope) -> Overview:
    """The overview's figures for ``scope`` (``metrics.overview``), without the alerts."""
    with practice_pipeline(store, scope) as run:
        return metrics.overview_from(run)[0]


def open_alerts(store: Store, scope: Scope) -> pd.DataFrame:
    """The alerts nobody has acknowledged yet for ``scope``'s clients (``alerts.current_alerts``)."""
    window = scope.with_days(ALERT_DAYS)
    with practice_pipeline(store, window) as run:
        return alerts.current_alerts(store, window, open_only=True, run=run)


def client_adherence(store: Store, scope: Scope) -> pd.DataFrame:
    """The overview's client table (``metrics.client_adherence``)."""
    with practice_pipeline(store, scope) as run:
        return metrics.client_adherence_from(run)


def client_view(store: Store, client_id: int, as_of: date,
                days: int = metrics.DEFAULT_DAYS) -> tuple[metrics.ClientDetail | None, pd.DataFrame]:
    """The client page's figures and the client's current alerts (open and acknowledged; none for
    a client that does not exist); the alerts read the page's own tables when its period is the
    alert window."""
    also = (lambda run: alerts.current_alerts(store, run.scope, run=run)) if days == ALERT_DAYS else None
    with period_figures.client_pipeline(store, client_id, as_of, days) as run:
        detail, found = metrics.client_detail_from(run, also=also)
    if found is None:
        found = alerts.current_alerts(store, Scope(as_of=as_of, client_id=int(client_id)))
    return detail, found


def client_detail(store: Store, client_id: int, as_of: date, days: int = metrics.DEFAULT_DAYS) -> metrics.ClientDetail | None:
    """The client page's figures without the alerts (``metrics.client_detail``)."""
    with period_figures.client_pipeline(store, client_id, as_of, days) as run:
        return metrics.client_detail_from(run)[0]
