"""Merge nested limits and push a limit below a projection.

``Limit(5, Limit(10, x))`` is ``Limit(5, x)``; ``Limit(n, Project(x))`` is
``Project(Limit(n, x))``, so that the limit stops the scan early and the projection runs on
fewer rows.
"""

from __future__ import annotations

from ember.plan.logical import Limit, LogicalPlan, Project


def combine_limits(plan: LogicalPlan) -> LogicalPlan:
    def rule(node: LogicalPlan) -> LogicalPlan:
        if isinstance(node, Limit) and isinstance(node.child, Limit):
            return Limit(min(node.n, node.child.n), node.child.child)
        if isinstance(node, Limit) and isinstance(node.child, Project) \
                and all(e.deterministic for e in node.child.exprs):
            project = node.child
            return Project(project.exprs, Limit(node.n, project.child))
        return node

    return plan.transform_down(rule)
