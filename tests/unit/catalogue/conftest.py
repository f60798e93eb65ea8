"""One real registry site (built, then rendered) shared by the catalogue unit tests."""

from __future__ import annotations

import pytest
from unit.catalogue.catalogue_sites import DemoSite, build_demo_site


@pytest.fixture(scope="session")
def demo_site(tmp_path_factory: pytest.TempPathFactory) -> DemoSite:
    """Demo packages plus a hostile one, built with build_site and rendered into the site."""
    return build_demo_site(tmp_path_factory.mktemp("catalogue"))
