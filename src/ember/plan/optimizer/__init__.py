"""The logical optimizer: batches of rules, each a pure ``plan -> plan`` function in its own
module, applied until the plan stops changing."""

from __future__ import annotations

from collections.abc import Callable

from ember.plan.logical import LogicalPlan
from ember.plan.optimizer.boolean_simplification import boolean_simplification
from ember.plan.optimizer.column_pruning import column_pruning
from ember.plan.optimizer.combine_filters import combine_filters
from ember.plan.optimizer.combine_limits import combine_limits
from ember.plan.optimizer.constant_folding import constant_folding
from ember.plan.optimizer.push_down_predicates import push_down_predicates
from ember.plan.optimizer.rewrite_distinct_aggregates import rewrite_distinct_aggregates

Rule = Callable[[LogicalPlan], LogicalPlan]

BATCHES: tuple[tuple[str, tuple[Rule, ...], int], ...] = (
    ("Rewrite", (rewrite_distinct_aggregates,), 1),
    ("Operator Optimization", (
        constant_folding,
        boolean_simplification,
        combine_filters,
        push_down_predicates,
        combine_limits,
    ), 100),
    ("Prune", (column_pruning,), 1),
)


def optimize(plan: LogicalPlan) -> LogicalPlan:
    for _name, rules, max_iterations in BATCHES:
        for _ in range(max_iterations):
            before = plan.tree_string()
            for rule in rules:
                plan = rule(plan)
            if plan.tree_string() == before:
                break
    return plan
