"""toolcalld's model pipeline: base-model import, bundle export, numpy reference, evaluation."""
