"""The course's widgets, one module each: ``gradflow`` (notebook 02), ``dashboard`` (04), ``lesions`` (05)."""
