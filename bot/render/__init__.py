"""Pure message builders: values in, Block Kit (and a plain-text fallback) out."""
