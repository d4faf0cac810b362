"""Bounded memory: a tiered, grammar-preserving KV-cache policy for unbounded streams (docs/design/memory.md).

Modules: budgets (MemoryConfig, kv_bytes, MemoryConfig.sized) · context (the context a model was trained on and the
memory it implies) · ledger (what each cache position holds) · grammar (§2.1
parser and eviction closure) · tiers (policies full/window/recent/keyframes, MemoryManager) · bounded
(BoundedBackend around the runtime) · simulate (synthetic id streams). Imports no ROS.
"""
from .bounded import BoundedBackend
from .budgets import POLICIES, MemoryConfig, kv_bytes
from .grammar import GrammarError, check_ids
from .ledger import Kind, Ledger, Segment, Tier
from .tiers import Eviction, MemoryManager

__all__ = ["BoundedBackend", "MemoryConfig", "POLICIES", "kv_bytes", "GrammarError", "check_ids", "Kind",
           "Ledger", "Segment", "Tier", "Eviction", "MemoryManager"]
