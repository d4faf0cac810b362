"""Memory tests run tiny CPU models: one intra-op thread is much faster than oversubscribing 2 shared cores."""
import pytest


@pytest.fixture(autouse=True)
def _one_torch_thread():
    import torch
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
