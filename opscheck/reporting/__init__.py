"""Report writers: JSON, JUnit XML, HTML (pytest-html) and the terminal summary."""
