"""testbed host controller: convert models, push them to boards, measure, store, report."""

__version__ = "0.1.0"
