"""Long-term memory (a later issue): thread summaries, facts and preferences, episodes of past answers.

The seam: the agent's `load_context` node (agent/nodes/load_context.py) reads the thread's recent turns
today; recalled memories and lessons join it here, behind one store interface.
"""
