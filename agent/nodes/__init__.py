"""The graph's nodes: one module each, plain functions `(state, ctx) -> partial state update`.

No LangGraph here: `agent.graph` wires these together; tests call them directly with a `RunContext`.
"""

from agent.nodes.generate import generate
from agent.nodes.grade import grade
from agent.nodes.load_context import load_context
from agent.nodes.reflect import reflect
from agent.nodes.retrieve import retrieve
from agent.nodes.rewrite import rewrite
from agent.nodes.route import route
from agent.nodes.save import save
from agent.nodes.tools import tools

__all__ = ["generate", "grade", "load_context", "reflect", "retrieve", "rewrite", "route", "save", "tools"]
