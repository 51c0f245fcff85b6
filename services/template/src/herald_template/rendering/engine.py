"""Compiling and rendering one template for a list of recipients (synchronous: it runs in a worker thread).

Failure policy, per recipient:
- an ordinary template error (a missing variable under `StrictUndefined`, a type error, a division by zero, ...)
  becomes `{email, error}` for that recipient only; the others still render;
- a sandbox escape (`SecurityError`) or a resource bound (time, output size, work, recursion) aborts the whole call
  with a 422, data-dependent or not: a template that can exhaust the service must be fixed, not retried per address.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from jinja2 import Template, TemplateSyntaxError, meta, nodes
from jinja2.exceptions import SecurityError

from herald_template.rendering.errors import InvalidTemplate, RenderLimitExceeded, TemplateTooLarge, UnsafeTemplate
from herald_template.rendering.meter import metering
from herald_template.rendering.sandbox import HeraldSandbox
from herald_template.rendering.text import html_to_text

if TYPE_CHECKING:
    from collections.abc import Mapping

    from herald_template.rendering.meter import RenderLimits

UNSUBSCRIBE_PLACEHOLDER = "#unsubscribe"
BUILT_INS = frozenset({"email", "unsubscribe_url"})
_UNSUPPORTED = (nodes.Extends, nodes.Include, nodes.Import, nodes.FromImport)


@dataclass(frozen=True)
class TemplateSource:
    subject: str
    html: str
    text: str | None = None


@dataclass(frozen=True)
class Recipient:
    email: str
    data: Mapping[str, Any] = field(default_factory=dict)
    unsubscribe_url: str | None = None

    def variables(self) -> dict[str, Any]:
        """The template's variables: the recipient's data, with the built-ins taking precedence."""
        return {**self.data, "email": self.email, "unsubscribe_url": self.unsubscribe_url or UNSUBSCRIBE_PLACEHOLDER}


@dataclass(frozen=True)
class RenderedEmail:
    email: str
    subject: str
    html: str
    text: str


@dataclass(frozen=True)
class RenderFailure:
    email: str
    error: str


RenderResult = RenderedEmail | RenderFailure


@dataclass(frozen=True)
class CompiledTemplate:
    subject: Template
    html: Template
    text: Template | None
    variables: frozenset[str]  # the names the template reads: the only data a cached render depends on


def _static_checks(tree: nodes.Template, part: str) -> None:
    """Refuse what can be seen without rendering: reaching for internals, and template loading (there is no loader)."""
    for node in tree.find_all(_UNSUPPORTED):
        raise InvalidTemplate(f"{part} line {node.lineno}: extends, include and import are not supported.")
    for getattr_node in tree.find_all(nodes.Getattr):
        if getattr_node.attr.startswith("_"):
            raise UnsafeTemplate(f"{part} line {getattr_node.lineno}: access to '{getattr_node.attr}' is not allowed.")
    for item in tree.find_all(nodes.Getitem):
        if isinstance(item.arg, nodes.Const) and str(item.arg.value).startswith("_"):
            raise UnsafeTemplate(f"{part} line {item.lineno}: access to '{item.arg.value}' is not allowed.")
    # `x|attr('__globals__')`, `items|map(attribute='__class__')`: attribute names passed as arguments.
    for call in tree.find_all((nodes.Filter, nodes.Test, nodes.Call)):
        assert isinstance(call, (nodes.Filter, nodes.Test, nodes.Call))
        for arg in (*call.args, *(kw.value for kw in call.kwargs)):
            if isinstance(arg, nodes.Const) and isinstance(arg.value, str) and arg.value.startswith("__"):
                raise UnsafeTemplate(f"{part} line {call.lineno}: access to '{arg.value}' is not allowed.")


def _error_line(exc: BaseException, filename: str) -> int | None:
    """The template line of a runtime error (Jinja rewrites tracebacks so template frames carry template lines)."""
    line, tb = None, exc.__traceback__
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == filename:
            line = tb.tb_lineno
        tb = tb.tb_next
    return line


class RenderEngine:
    """Compiles sources into sandboxed templates and renders them under the configured limits."""

    def __init__(self, limits: RenderLimits) -> None:
        self.limits = limits
        self._html = HeraldSandbox(autoescape=True, limits=limits)
        self._plain = HeraldSandbox(autoescape=False, limits=limits)

    def compile(self, source: TemplateSource) -> CompiledTemplate:
        """Validate and compile. Raises `TemplateTooLarge`, `InvalidTemplate` (part and line) or `UnsafeTemplate`."""
        size = sum(len(p.encode()) for p in (source.subject, source.html, source.text or ""))
        if size > self.limits.max_source_bytes:
            raise TemplateTooLarge(f"The template is {size} bytes; the limit is {self.limits.max_source_bytes}.")
        names: set[str] = set()
        subject = self._compile_part(self._plain, source.subject, "subject", names)
        html = self._compile_part(self._html, source.html, "html", names)
        text = None if source.text is None else self._compile_part(self._plain, source.text, "text", names)
        return CompiledTemplate(subject, html, text, frozenset(names))

    def _compile_part(self, env: HeraldSandbox, source: str, part: str, names: set[str]) -> Template:
        filename = f"<{part}>"
        try:
            tree = env.parse(source, name=part, filename=filename)
            _static_checks(tree, part)
            names |= meta.find_undeclared_variables(tree)
            code = env.compile(tree, name=part, filename=filename)
        except TemplateSyntaxError as exc:
            raise InvalidTemplate(f"{part} line {exc.lineno}: {exc.message}") from exc
        except (RecursionError, MemoryError, SyntaxError) as exc:
            raise InvalidTemplate(f"{part}: the template is nested too deeply to compile.") from exc
        return env.template_class.from_code(env, code, env.make_globals(None), None)

    def render(self, compiled: CompiledTemplate, recipient: Recipient) -> RenderResult:
        """Render one recipient. Ordinary errors become a `RenderFailure`; limits and escapes raise (see module doc)."""
        variables = recipient.variables()
        with metering(self.limits):
            try:
                budget = [self.limits.max_output_bytes]
                subject = " ".join(self._run(compiled.subject, variables, "subject", budget).split())
                html = self._run(compiled.html, variables, "html", budget)
                if compiled.text is not None:
                    text = self._run(compiled.text, variables, "text", budget)
                else:
                    text = html_to_text(html)
            except SecurityError as exc:
                raise UnsafeTemplate(f"The template reached for something the sandbox forbids: {exc}") from exc
            except (RecursionError, MemoryError) as exc:
                raise RenderLimitExceeded("The template recursed or allocated beyond the render limits.") from exc
            except (RenderLimitExceeded, UnsafeTemplate):
                raise
            except Exception as exc:
                return RenderFailure(recipient.email, self._describe(exc))
        size = sum(len(part.encode()) for part in (subject, html, text))
        if size > self.limits.max_output_bytes:
            raise RenderLimitExceeded(f"The rendered email is over {self.limits.max_output_bytes} bytes.")
        return RenderedEmail(recipient.email, subject, html, text)

    def _run(self, template: Template, variables: dict[str, Any], part: str, budget: list[int]) -> str:
        # generate() yields output piece by piece, so a loop that emits is stopped as soon as it is over the limit
        # (the loop's own deadline check stops one that emits nothing).
        chunks: list[str] = []
        try:
            for chunk in template.generate(variables):
                budget[0] -= len(chunk)
                if budget[0] < 0:
                    raise RenderLimitExceeded(f"The rendered email is over {self.limits.max_output_bytes} bytes.")
                chunks.append(chunk)
        except Exception as exc:
            exc.add_note(part)
            raise
        return "".join(chunks)

    @staticmethod
    def _describe(exc: Exception) -> str:
        part = next((note for note in getattr(exc, "__notes__", ()) if note in ("subject", "html", "text")), "template")
        line = _error_line(exc, f"<{part}>")
        where = f"{part} line {line}" if line is not None else part
        return f"{where}: {exc}"
