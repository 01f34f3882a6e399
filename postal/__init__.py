"""Public-postal pickup and return (bưu chính công ích, Decision 45/2016/QĐ-TTg).

The postal service is not built yet: this package holds its place in the layout (see README,
"Layout"). It will stand on the chassis in ``services/`` like intake and routing, with its own
schema, event store, relay and consumer.
"""
