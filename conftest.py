"""Root conftest: loads the opscheck plugin for ``pytest checks/`` and the test support fixtures."""

pytest_plugins = [
    "opscheck.plugin.hooks",
    "tests.support.engines",
    "tests.support.servers",
    "tests.support.cli",
    "tests.support.demo",
]
