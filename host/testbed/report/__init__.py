"""Reports: terminal tables (and later HTML, JUnit, plots)."""
