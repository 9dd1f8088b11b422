"""One module per DVC stage: read inputs, call pure functions, write outputs atomically."""
