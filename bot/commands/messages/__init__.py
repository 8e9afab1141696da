"""The dispatcher's words (pure): command replies and the App Home tab."""
