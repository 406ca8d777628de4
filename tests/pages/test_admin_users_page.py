"""The Staff page's sites (owners): add a site, and set the sites a member works at."""

from __future__ import annotations

from streamlit.testing.v1 import AppTest

from core.access import sites
from pages.common import get_store


def test_an_owner_adds_a_site_and_sets_where_a_member_works(app_as) -> None:
    app_as("therapist", "tina")                      # a therapist of the one-site practice: at main
    at = app_as("owner")
    at.run()
    at.switch_page("pages/admin_users.py").run()
    assert not at.exception, at.exception
    staff = at.dataframe[0].value
    assert dict(zip(staff["username"], staff["sites"])) == {"owner": "All sites", "tina": "Main site"}
    at.text_input(key="new_site_code").input("north")
    at.text_input(key="new_site_name").input("North clinic")
    next(b for b in at.button if b.label == "Add site").click().run()
    assert not at.exception, at.exception
    assert sites.site_labels(get_store()) == {"main": "Main site", "north": "North clinic"}
    at.selectbox(key="edit_username").set_value("tina").run()
    at.multiselect(key="edit_sites_tina").set_value(["north"])
    next(b for b in at.button if b.label == "Save sites").click().run()
    assert not at.exception, at.exception
    assert sites.allowed_sites(get_store(), "tina") == ("north",)
    assert "Sites of tina saved." in [s.value for s in at.success]
    staff = at.dataframe[0].value
    assert dict(zip(staff["username"], staff["sites"]))["tina"] == "North clinic"
