"""Pure values everything exchanges: indicators (parse, refang, normalise), observations
and changes, alert routing."""
