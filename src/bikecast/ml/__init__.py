"""The model: features, training, the model card, evaluation, drift, tuning."""
