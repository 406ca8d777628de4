"""The practice overview and a client's page, each with its alerts: the one way the pages read them.

Both are composed from the read model the writes keep in the store (core/db/figures.py: attributed
sessions, sums per assignment and day, pain per assignment, last session per client) through one
metric pipeline (core.analytics.metrics), so any process (a server, a second server, the CLI)
reads the same figures without computing attribution again. The pages cache the result with
``st.cache_data`` keyed on ``Store.version``; nothing else is kept in memory.
"""

from __future__ import annotations

from datetime import date

import pandas as pd

from core.analytics import alerts
from core.analytics import metrics
from core.analytics.alerts import ALERT_DAYS
from core.analytics.metrics import Overview, Scope
from core.db.store import Store


def practice_overview(store: Store, scope: Scope) -> tuple[Overview, pd.DataFrame]:
    """The overview and its open alerts for ``scope`` (one pipeline when the period is the alert
    window, whose tables the alerts read too)."""
    if scope.days != ALERT_DAYS:
        return metrics.overview(store, scope), alerts.current_alerts(store, scope, open_only=True)
    with metrics.pipeline(store, scope, pain=True) as run:
        return metrics.overview_from(run, also=lambda r: alerts.current_alerts(store, scope, open_only=True, run=r))


def client_adherence(store: Store, scope: Scope) -> pd.DataFrame:
    """The overview's client table (``metrics.client_adherence``)."""
    return metrics.client_adherence(store, scope)


def client_view(store: Store, client_id: int, as_of: date,
                days: int = metrics.DEFAULT_DAYS) -> tuple[metrics.ClientDetail | None, pd.DataFrame]:
    """The client page's figures and the client's current alerts (open and acknowledged; none for
    a client that does not exist); the alerts read the page's own tables when its period is the
    alert window."""
    also = (lambda run: alerts.current_alerts(store, run.scope, run=run)) if days == ALERT_DAYS else None
    with metrics.client_pipeline(store, client_id, as_of, days) as run:
        detail, found = metrics.client_detail_from(run, also=also)
    if found is None:
        found = alerts.current_alerts(store, Scope(as_of=as_of, client_id=int(client_id)))
    return detail, found
