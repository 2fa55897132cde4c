import pytest

from fraudscore.synth import generate


@pytest.fixture(scope="session")
def synth_data():
    """A small generated data set shared by the synth tests."""
    return generate(n_days=14, per_day=1500, fraud_rate=0.03, seed=11)
