"""`ragloop chat`: a REPL over one agent. Answers stream; numbered sources follow each answer.

Ctrl-C stops the answer being generated (closing the HTTP stream makes the model server stop) and returns
to the prompt; at the prompt it clears the line. EOF (Ctrl-D) or /quit leaves.
"""

from __future__ import annotations

import contextlib
import sys
from typing import TYPE_CHECKING

import typer

from agent.cli.app import app
from agent.cli.options import ThreadOpt, VerboseOpt, with_settings
from agent.settings import Settings

if TYPE_CHECKING:
    from agent.run import Agent, AgentAnswer

HELP = """Type a question and press Enter. Commands:
  /sources   the sources of the last answer, with the quoted text and chunk ids
  /threads   saved threads (the current one is marked *); resume one with `ragloop chat --thread ID`
  /memory    what ragloop remembers about you (`ragloop memory ...` to edit it)
  /tools     the tools the model may call (built-ins and allowed MCP server tools)
  /reset     start a new thread (the current one stays saved)
  /help      this help
  /quit      leave (so do Ctrl-D and /exit)
Ctrl-C stops an answer while it is being written."""


class ChatSession:
    """The REPL's state: the agent, the current thread and the last answer."""

    def __init__(self, agent: Agent, *, thread_id: str | None, verbose: bool, collection: str) -> None:
        self.agent = agent
        self.thread_id = thread_id
        self.verbose = verbose
        self.collection = collection
        self.last: AgentAnswer | None = None
        self.interactive = sys.stdin.isatty()

    def run(self) -> None:
        if self.interactive:
            with contextlib.suppress(ImportError):  # line editing and history for input()
                import readline  # noqa: F401
        self._banner()
        while True:
            try:
                line = self._read()
            except KeyboardInterrupt:
                typer.echo("", err=True)  # Ctrl-C at the prompt: a fresh prompt
                continue
            if line is None:  # EOF
                if self.interactive:
                    typer.echo("", err=True)
                return
            line = line.strip()
            if not line:
                continue
            if line.startswith("/"):
                if not self.command(line):
                    return
                continue
            self.ask(line)

    def _read(self) -> str | None:
        try:
            if self.interactive:
                return input("you> ")
            text = sys.stdin.readline()
            return text if text else None
        except EOFError:
            return None

    def _banner(self) -> None:
        typer.secho(f"ragloop chat · collection {self.collection!r} · /help for commands", err=True, dim=True)
        if self.thread_id:
            turns = self.agent.turns(self.thread_id)
            status = f"{len(turns)} earlier turn(s)" if turns else "new thread"
            typer.secho(f"thread {self.thread_id} ({status})", err=True, dim=True)

    # -- commands --------------------------------------------------------------------------------

    def command(self, line: str) -> bool:
        """Run a slash command; False means leave."""
        name = line.split()[0].lower()
        if name in ("/quit", "/exit", "/q"):
            return False
        if name == "/help":
            typer.echo(HELP)
        elif name == "/sources":
            self.show_sources()
        elif name == "/threads":
            self.show_threads()
        elif name == "/memory":
            self.show_memory()
        elif name == "/tools":
            self.show_tools()
        elif name == "/reset":
            self.thread_id = None
            self.last = None
            typer.echo("started a new thread")
        else:
            typer.echo(f"unknown command {name}; /help lists the commands")
        return True

    def show_sources(self) -> None:
        from agent.cli.render import print_sources

        if self.last is None:
            typer.echo("no answer yet")
        elif not self.last.citations:
            typer.echo("the last answer cites no sources")
        else:
            print_sources(self.last, quotes=True)

    def show_memory(self) -> None:
        memory = self.agent.deps.memory
        records = memory.list() if memory is not None else []
        if memory is None:
            typer.echo("long-term memory is off (--recall to turn it on)")
        elif not records:
            typer.echo(f"nothing remembered about {memory.user!r} yet")
        for record in records:
            typer.echo(f"{record.id[:8]}  {record.text}")

    def show_tools(self) -> None:
        registry = self.agent.deps.tools
        tools = registry.tools() if registry is not None else []
        if not tools:
            typer.echo("no tools available")
        for tool in tools:
            first_line = (tool.description or "").strip().splitlines()[0] if tool.description else ""
            typer.echo(f"{tool.name:<28} {first_line}")

    def show_threads(self) -> None:
        threads = self.agent.list_threads()
        if not threads:
            typer.echo("no saved threads yet")
            return
        for info in threads:
            mark = "*" if info.thread_id == self.thread_id else " "
            question = " ".join(info.last_question.split())
            if len(question) > 60:
                question = question[:59] + "…"
            typer.echo(f"{mark} {info.thread_id}  {info.turns:>3} turn(s)  {question}")

    # -- questions -------------------------------------------------------------------------------

    def ask(self, question: str) -> None:
        from agent.cli.render import StreamPrinter, print_answer_footer

        printer = StreamPrinter(verbose=self.verbose)
        try:
            answer = self.agent.ask(question, thread_id=self.thread_id, on_event=printer)
        except KeyboardInterrupt:
            sys.stdout.write("\n")
            sys.stdout.flush()
            typer.secho("[stopped]", err=True, fg=typer.colors.YELLOW)
            return
        self.thread_id = answer.thread_id
        self.last = answer
        printer.finish(answer)
        print_answer_footer(answer, verbose=self.verbose)
        turn = self.agent.wait_memory()  # after the answer is shown: extraction runs while it is read
        for line in turn.remembered if turn is not None else []:
            typer.secho(f"remembered: {line}", err=True, fg=typer.colors.CYAN)
        if turn is not None and turn.error:
            typer.secho(f"memory: {turn.error}", err=True, dim=True)
        sys.stdout.write("\n")
        sys.stdout.flush()


@app.command("chat")
@with_settings("models", "retrieval", "agent", "memory")
def chat(settings: Settings, thread: ThreadOpt = None, verbose: VerboseOpt = False) -> None:
    """Chat with your documents: streamed answers with numbered sources; /help lists the commands."""
    from agent.cli.wiring import open_agent

    with open_agent(settings) as agent:
        ChatSession(agent, thread_id=thread, verbose=verbose, collection=settings.retrieval.collection).run()
