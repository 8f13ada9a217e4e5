"""Small utilities shared across tfp_flows (file writing, validation, ...)."""

from tfp_flows.utils.atomic import atomic_write_bytes
from tfp_flows.utils.atomic import atomic_write_json
from tfp_flows.utils.atomic import atomic_write_text
from tfp_flows.utils.validation import positive_int

__all__ = [
    'atomic_write_bytes', 'atomic_write_json', 'atomic_write_text',
    'positive_int'
]
