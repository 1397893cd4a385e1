#!/usr/bin/env python3
"""Renders chat-template conversations with Hugging Face transformers (the
reference) and writes tests/fixtures/chat/chat_cases.json for
tests/test_chat_template.c.

Templates come from the real sources:
  llama3, qwen3   /work/shared/data/tokenizers/{llama3,qwen3}/tokenizer_config.json
  smollm2         tokenizer.chat_template of models/SmolLM2-135M-Instruct.Q4_1.gguf (gguf-py)
  llama2, mistral, qwen2, chatml
                  tests/fixtures/chat/templates/*.jinja (sources in SOURCES.md there)

Each case is rendered three ways and must agree before it is written:
  1. transformers.utils.chat_template_utils.render_jinja_template (what
     apply_chat_template calls),
  2. tokenizer.apply_chat_template(tokenize=False) on a tokenizer loaded from
     the shared folder (llama2 / llama3 / qwen3),
  3. a plain jinja2 ImmutableSandboxedEnvironment set up like transformers'
     (trim_blocks, lstrip_blocks, loopcontrols, tojson ensure_ascii=False).

usage: python3 scripts/make_chat_fixtures.py [--shared /work/shared/data] [--model models/...gguf]
"""
import argparse
import json
import os
import sys

import jinja2
import jinja2.ext
from jinja2.sandbox import ImmutableSandboxedEnvironment

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FIX = os.path.join(ROOT, "tests", "fixtures", "chat")


def plain_jinja_render(template, **kw):
    def raise_exception(message):
        raise jinja2.exceptions.TemplateError(message)

    def tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False):
        return json.dumps(x, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys)

    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True, extensions=[jinja2.ext.loopcontrols])
    env.filters["tojson"] = tojson
    env.globals["raise_exception"] = raise_exception
    env.globals["namespace"] = jinja2.utils.Namespace
    return env.from_string(template).render(**kw)


def load_templates(shared, model):
    t = {}
    for fam in ("llama3", "qwen3"):
        with open(os.path.join(shared, "tokenizers", fam, "tokenizer_config.json"), encoding="utf-8") as f:
            t[fam] = json.load(f)["chat_template"]
    from gguf import GGUFReader

    r = GGUFReader(model)
    field = r.fields["tokenizer.chat_template"]
    t["smollm2"] = bytes(field.parts[field.data[0]]).decode("utf-8")
    for fam in ("llama2", "mistral", "qwen2", "chatml"):
        with open(os.path.join(FIX, "templates", fam + ".jinja"), encoding="utf-8") as f:
            t[fam] = f.read()
    return t


# special tokens each family's tokenizer passes to the template
TOKENS = {
    "llama2": ("<s>", "</s>"),
    "llama3": ("<|begin_of_text|>", "<|end_of_text|>"),
    "qwen3": (None, "<|im_end|>"),
    "smollm2": ("<|im_start|>", "<|im_end|>"),
    "mistral": ("<s>", "</s>"),
    "qwen2": (None, "<|im_end|>"),
    "chatml": (None, None),
}

SYS = {"role": "system", "content": "You are a terse assistant."}
U1 = {"role": "user", "content": "Hello!"}
A1 = {"role": "assistant", "content": "Hi. How can I help?"}
U2 = {"role": "user", "content": "What is 2+2?"}
A2 = {"role": "assistant", "content": "4"}
U_UNI = {"role": "user", "content": "Ünïcödé: 日本語, emoji 🙂, {{ not a tag }} {% if %} 'single' \"double\" \\backslash\\ {#x#}"}
U_WS = {"role": "user", "content": "  padded with spaces and newlines \n\n"}
A_WS = {"role": "assistant", "content": "\n  answer with surrounding whitespace  \n"}

# (name, messages, add_generation_prompt)
COMMON = [
    ("system_user_gen", [SYS, U1], True),
    ("user_only_gen", [U1], True),
    ("user_only_nogen", [U1], False),
    ("multiturn_system_gen", [SYS, U1, A1, U2], True),
    ("multiturn_nosystem_nogen", [U1, A1, U2, A2], False),
    ("unicode_braces_quotes_gen", [SYS, U_UNI], True),
    ("whitespace_content", [U_WS, A_WS, U2], True),
    ("unicode_nosystem_nogen", [U_UNI], False),
    ("three_turns_gen", [U1, A1, U2, A2, U_UNI], True),
]
NO_SYSTEM = [c for c in COMMON if c[1][0]["role"] != "system"]

THINK_A = {"role": "assistant", "content": "<think>\nThe user greets me.\n</think>\n\nHi there!"}
THINK_A2 = {"role": "assistant", "content": "<think>\nadd them\n</think>\n\n4"}
QWEN3_EXTRA = [
    # (name, messages, add_generation_prompt, enable_thinking: None = not passed)
    ("thinking_false_gen", [U1], True, False),
    ("thinking_true_gen", [U1], True, True),
    ("thinking_false_system_multiturn", [SYS, U1, A1, U2], True, False),
    ("history_with_think_blocks", [U1, THINK_A, U2], True, None),
    ("last_assistant_with_think", [U1, THINK_A, U2, THINK_A2], False, None),
    ("system_late_in_conversation", [U1, A1, {"role": "system", "content": "Be brief."}, U2], True, None),
]


def cases_for(fam):
    out = []
    base = NO_SYSTEM if fam == "mistral" else COMMON
    for name, msgs, gen in base:
        out.append({"name": name, "messages": msgs, "add_generation_prompt": gen, "enable_thinking": None})
    if fam == "qwen3":
        for name, msgs, gen, think in QWEN3_EXTRA:
            out.append({"name": name, "messages": msgs, "add_generation_prompt": gen, "enable_thinking": think})
        # reasoning passed as a field rather than inside content
        out.append({"name": "reasoning_content_field",
                    "messages": [U1, {"role": "assistant", "content": "Hello.", "reasoning_content": "Say hello."}],
                    "add_generation_prompt": False, "enable_thinking": None})
    if fam in ("llama2", "mistral"):
        out.append({"name": "roles_not_alternating", "messages": [U1, U2], "add_generation_prompt": True,
                    "enable_thinking": None})
    if fam == "mistral":
        out.append({"name": "system_not_supported", "messages": [SYS, U1], "add_generation_prompt": True,
                    "enable_thinking": None})
    return out


def render_all(fam, template, case, tokenizer):
    from transformers.utils.chat_template_utils import render_jinja_template

    bos, eos = TOKENS[fam]
    kw = {}
    if bos is not None:
        kw["bos_token"] = bos
    if eos is not None:
        kw["eos_token"] = eos
    if case["enable_thinking"] is not None:
        kw["enable_thinking"] = case["enable_thinking"]
    results = []
    try:
        rendered, _ = render_jinja_template(conversations=[case["messages"]], chat_template=template,
                                            add_generation_prompt=case["add_generation_prompt"], **kw)
        results.append(("ok", rendered[0]))
    except jinja2.exceptions.TemplateError as e:
        results.append(("error", str(e)))
    if tokenizer is not None:
        extra = {} if case["enable_thinking"] is None else {"enable_thinking": case["enable_thinking"]}
        try:
            results.append(("ok", tokenizer.apply_chat_template(case["messages"], tokenize=False, chat_template=template,
                                                                add_generation_prompt=case["add_generation_prompt"],
                                                                **extra)))
        except jinja2.exceptions.TemplateError as e:
            results.append(("error", str(e)))
    msgs = []
    for m in case["messages"]:  # transformers aliases reasoning_content to "thinking"
        if "reasoning_content" in m:
            m = {"thinking": m["reasoning_content"], **m}
        msgs.append(m)
    try:
        results.append(("ok", plain_jinja_render(template, messages=msgs, tools=None, documents=None,
                                                 add_generation_prompt=case["add_generation_prompt"], **kw)))
    except jinja2.exceptions.TemplateError as e:
        results.append(("error", str(e)))
    if any(r != results[0] for r in results):
        sys.exit(f"{fam}/{case['name']}: references disagree: {results!r}")
    return results[0]


# Small templates exercising the interpreter's Jinja subset, rendered with the
# same variables as a chat: messages = [SYS, U1, A1, U2], add_generation_prompt
# = True, bos_token "<s>", eos_token "</s>".
SNIPPETS = [
    # whitespace control: trim_blocks, lstrip_blocks, -, +, comments, trailing newline
    "a\n{% if true %}\nb\n{% endif %}\nc\n",
    "a  \n    {% if true %}  x  {% endif %}  \nb",
    "  {%- if true -%}  x  {%- endif -%}  y",
    "line\n  {%+ if true %}kept{% endif %}\n",
    "{# comment #}\nafter\n  {# indented comment #}\nz",
    "x {{- ' y ' -}} z",
    "a\r\nb\rc\n\n",
    "{% raw %}{{ not evaluated }}{% endraw %}\n{{ 'done' }}",
    "{% for m in messages %}\n  {{ m.role }}\n{% endfor %}\n",
    "{%- for m in messages -%}\n  [{{ loop.index }}/{{ loop.length }} {{ loop.first }} {{ loop.last }} {{ loop.revindex }}]\n{%- endfor %}",
    # expressions and literals
    "{{ 1 + 2 * 3 }} {{ (1 + 2) * 3 }} {{ 7 // 2 }} {{ -7 // 2 }} {{ -7 % 3 }} {{ 7 / 2 }} {{ 2 ** 10 }} {{ 10 / 4 }}",
    "{{ 1.5 }} {{ 0.1 + 0.2 }} {{ 1e20 }} {{ 1e-5 }} {{ 3.0 }} {{ 100.0 * 3 }} {{ 1 / 3 }} {{ -0.5 }}",
    "{{ 'a' ~ 1 ~ none ~ true }} {{ 'ab' * 3 }} {{ [1] + [2, 3] }} {{ 'x' + 'y' }}",
    "{{ none }} {{ true }} {{ false }} {{ True }} {{ None }} {{ [1, 'a', none, 2.5, [true]] }} {{ {'k': 'v', 'n': 1} }}",
    "{{ (1, 2) }} {{ (1,) }} {{ 'it\\'s' }} {{ \"say \\\"hi\\\"\" }} {{ ['it\\'s', \"q\\\"\"] }}",
    "{{ 'tab\\there' }}|{{ 'nl\\nhere' }}|{{ '\\u00e9\\x41' }}|{{ 'a' 'b' }}",
    "{{ 1 < 2 < 3 }} {{ 3 > 2 > 2 }} {{ 1 == 1.0 }} {{ 'a' != 'b' }} {{ 'abc' < 'abd' }} {{ [1, 2] < [1, 3] }}",
    "{{ 'x' in 'xyz' }} {{ 'q' not in 'xyz' }} {{ 2 in [1, 2] }} {{ 'role' in messages[0] }} {{ not 0 }} {{ not 'a' }}",
    "{{ 0 or 'b' }} {{ 'a' and 'b' }} {{ '' and 'b' }} {{ none or [] }} {{ 1 if true else 2 }} {{ 1 if false else 2 }}",
    "[{{ 'yes' if false }}]",
    "{{ -3 }} {{ - 3 + 1 }} {{ -(1 + 2) }} {{ +4 }} {{ -1.5|abs }}",
    # subscripts, slices, attributes
    "{{ messages[0].role }} {{ messages[-1]['content'] }} {{ messages[1:3]|length }} {{ messages[::-1][0].role }}",
    "{{ 'hello'[1:3] }} {{ 'hello'[::-1] }} {{ 'hello'[-1] }} {{ 'héllo'[1] }} {{ [1, 2, 3, 4][::2] }} {{ [1, 2, 3][5:] }}",
    "{{ messages[10] is defined }} {{ messages[0].nokey is defined }} {{ nothing is defined }} {{ messages[0].nokey is undefined }}",
    "[{{ nothing }}][{{ messages[0].nokey }}]",
    # tests
    "{{ none is none }} {{ 1 is number }} {{ 1.0 is float }} {{ 1 is integer }} {{ true is boolean }} {{ 'a' is string }}",
    "{{ {} is mapping }} {{ [] is sequence }} {{ 'a' is iterable }} {{ false is false }} {{ 0 is false }} {{ true is true }}",
    "{{ 3 is odd }} {{ 4 is even }} {{ 9 is divisibleby 3 }} {{ 9 is divisibleby(2) }} {{ 'a' is not none }} {{ 2 is eq 2 }}",
    "{{ 'abc' is lower }} {{ 'ABC' is upper }} {{ 1 is in [1, 2] }} {{ 'x' is sameas 'x' }} {{ add_generation_prompt is true }}",
    # filters
    "{{ '  x  '|trim }}|{{ 'xxhixx'|trim('x') }}|{{ messages|length }}|{{ 'héllo'|length }}|{{ {'a': 1}|count }}",
    "{{ 'Hello World'|upper }} {{ 'Hello World'|lower }} {{ 'hello wORLD'|capitalize }} {{ 'hello wORLD-foo(bar'|title }}",
    "{{ nothing|default('dflt') }} {{ ''|default('dflt') }} {{ ''|default('dflt', true) }} {{ 0|d(5, boolean=true) }}",
    "{{ [1, 2, 3]|first }} {{ [1, 2, 3]|last }} {{ 'abc'|first }} {{ []|first is defined }} {{ [3, 1, 2]|reverse|list }}",
    "{{ [1, 2, 3]|join(', ') }} {{ ['a', 'b']|join }} {{ messages|map(attribute='role')|join('/') }} {{ messages|map(attribute='role')|list }}",
    "{{ messages|selectattr('role', 'equalto', 'user')|list|length }} {{ messages|rejectattr('role', 'eq', 'user')|map(attribute='role')|list }}",
    "{{ messages|selectattr('role')|list|length }} {{ [0, 1, 2, '']|select|list }} {{ [1, 2, 3, 4]|select('odd')|list }} {{ [1, 2, 3, 4]|reject('odd')|list }}",
    "{{ {'b': 1, 'a': [1, 2.5, none, true]}|tojson }} {{ 'é\\n\"'|tojson }} {{ [1, 2]|tojson(indent=2) }} {{ {'b': 1, 'a': 2}|tojson(sort_keys=true) }}",
    "{{ messages[0]|tojson }} {{ messages[0]|tojson(indent=4) }}",
    "{{ {'a': 1, 'b': 2}|items|list }} {{ 42|string }} {{ '12'|int + 1 }} {{ '1.5'|float }} {{ 'x'|int }} {{ 3.9|int }} {{ '7'|float }}",
    "{{ 'aXbXc'|replace('X', '-') }} {{ 'aaa'|replace('a', 'b', 2) }} {{ [1, 2, 1, 3]|unique|list }} {{ [1, 2, 3]|sum }} {{ [3, 1, 2]|min }} {{ [3, 1, 2]|max }}",
    "{{ 'a\\nb\\n\\nc'|indent(2) }}|{{ 'a\\nb'|indent(2, true) }}|{{ '<a href=\"x\">&'|e }}",
    # string and dict methods
    "{{ '  x y  '.strip() }}|{{ 'xxhixx'.strip('x') }}|{{ '  x '.lstrip() }}|{{ '  x  '.rstrip() }}|{{ '\\n\\nx\\n'.strip('\\n') }}",
    "{{ 'a,b,,c'.split(',') }} {{ ' a  b c '.split() }} {{ 'a,b,c'.split(',', 1) }} {{ 'a,b,c'.rsplit(',', 1) }} {{ ' a b c '.rsplit(None, 1) }}",
    "{{ 'x</think>y</think>z'.split('</think>')[-1] }} {{ 'abc'.startswith('ab') }} {{ 'abc'.endswith(('x', 'c')) }} {{ 'abc'.startswith('b') }}",
    "{{ 'Hello'.lower() }} {{ 'Hello'.upper() }} {{ 'hello world'.title() }} {{ 'hELLO'.capitalize() }} {{ 'a-b'.replace('-', '+') }}",
    "{{ 'hello'.find('l') }} {{ 'hello'.rfind('l') }} {{ 'hello'.find('z') }} {{ 'hello'.count('l') }} {{ ', '.join(['a', 'b']) }}",
    "{{ '123'.isdigit() }} {{ 'abc'.isalpha() }} {{ '  '.isspace() }} {{ 'ab'.islower() }} {{ 'AB'.isupper() }} {{ 'a1'.isalnum() }}",
    "{% for k, v in {'a': 1, 'b': 2}.items() %}{{ k }}={{ v }};{% endfor %} {{ {'a': 1}.get('a') }} {{ {'a': 1}.get('z', 'dz') }} {{ {'a': 1}.keys()|list }}",
    # statements
    "{% set x = 1 %}{% if x == 1 %}one{% elif x == 2 %}two{% else %}other{% endif %}",
    "{% set x = 3 %}{% if x == 1 %}one{% elif x == 2 %}two{% else %}other{% endif %}",
    "{% for i in range(3) %}{{ i }}{% else %}empty{% endfor %}|{% for i in [] %}{{ i }}{% else %}empty{% endfor %}",
    "{% for i in range(1, 10, 3) %}{{ i }},{% endfor %} {% for i in range(5, 0, -2) %}{{ i }},{% endfor %}",
    "{% for i in range(10) %}{% if i == 2 %}{% continue %}{% endif %}{% if i == 5 %}{% break %}{% endif %}{{ i }}{% endfor %}",
    "{% for m in messages if m.role == 'user' %}{{ loop.index }}:{{ m.content }};{% endfor %}",
    "{% for m in messages %}{% for c in m.role %}{{ c if loop.first }}{% endfor %}{{ loop.index0 }}{% endfor %}",
    "{% for m in messages %}{{ loop.previtem.role if loop.previtem is defined else '-' }}>{{ loop.nextitem.role if loop.nextitem is defined else '-' }} {% endfor %}",
    "{% for m in messages %}{{ loop.cycle('odd', 'even') }} {% endfor %}",
    "{% set x = 5 %}{% for i in range(3) %}[{{ x }}]{% set x = i %}{% endfor %}{{ x }}",
    "{% set ns = namespace(count=0, found=false) %}{% for m in messages %}{% set ns.count = ns.count + 1 %}{% if m.role == 'assistant' %}{% set ns.found = true %}{% endif %}{% endfor %}{{ ns.count }} {{ ns.found }}",
    "{% set a, b = 1, 2 %}{{ a }}{{ b }} {% set t = (3, 4) %}{% set c, d = t %}{{ c + d }}",
    "{% set block %}inner {{ 1 + 1 }}{% endset %}[{{ block }}]",
    "{% set d = dict(a=1, b='x') %}{{ d.a }}{{ d['b'] }} {{ d|length }}",
    "{{ bos_token }}{% for m in messages %}{{ m.role|upper }}: {{ m.content }}{{ eos_token }}{% endfor %}{% if add_generation_prompt %}ASSISTANT:{% endif %}",
    # macros
    "{% macro greet(name, punct='!') %}Hi {{ name }}{{ punct }}{% endmacro %}{{ greet('a') }} {{ greet('b', '?') }} {{ greet(name='c', punct='.') }}",
    "{% macro f(n) %}{% if n > 0 %}{{ n }}{{ f(n - 1) }}{% endif %}{% endmacro %}{{ f(3) }}",
    "{% macro v(a) %}{{ a }}{{ varargs }}{{ kwargs }}{% endmacro %}{{ v(1, 2, x=3) }}",
    "{% set top = 'T' %}{% macro show() %}{{ top }}{% endmacro %}{% for i in [1] %}{% set top = 'L' %}{{ show() }}{{ top }}{% endfor %}",
    "{%- macro m() -%}\n  x  \n{%- endmacro -%}\n[{{ m() }}] {{ m()|length }} {% set y = m() %}{{ y ~ y }}",
    "{% macro fmt(m) %}<{{ m.role }}>{% endmacro %}{% for m in messages %}{{ fmt(m) }}{% endfor %}",
    "{% filter upper %}up {{ 'x' }}{% endfilter %}|{%- filter trim|replace('a', 'b') %}  aa  {% endfilter -%}|",
    # constructs seen in real templates
    "{% set ns = namespace() %}{% set ns.i = 0 %}{% for m in messages %}{% set ns.i = ns.i + 1 %}{% endfor %}{{ ns.i }} {{ ns }}",
    "{{ messages[1] == messages[1] }} {{ messages[1] == messages[3] }} {{ messages[1] == {'role': 'user', 'content': 'Hello!'} }}",
    "{% for key, val in {'a': 1, 'return': 2, 'b': 'x'}.items() if key != 'return' %}{{ key }}={{ val }}{{ ',' if not loop.last }}{% endfor %}",
    "{% set out = {'name': 'f', 'args': [1]}|tojson %}{{ out[:-1] }}, \"id\": 1}",
    "{% set d = {'items': 'key', 'get': 1} %}{{ d['items'] }} {{ d.items()|list|length }} {{ d['get'] }} {{ d.get('get') }}",
    "{% if messages|selectattr('role', 'equalto', 'tool') %}gen-true{% endif %} {{ messages|selectattr('role')|first }} {{ ([1, 2]|reverse)[0] is defined }} {{ {'b': 1}|items is sequence }}",
    "{{ 1.0 // 0.1 }} {{ -7.5 // 2 }} {{ 7.5 % -2 }} {{ -0.0 % 1 }} {{ {'k': 1} is lower }} {{ 3 is upper }}",
    "{% if not nothing is defined %}{% set nothing = none %}{% endif %}{{ nothing is none }}",
    "{{ messages|selectattr('role', 'equalto', 'user')|list|last|tojson }} {{ none|selectattr('x')|list }} {{ none|map(attribute='x')|list }}",
    "{% if tools is none %}no tools{% endif %} {{ tools is defined }} {{ documents is none }} {{ enable_thinking is defined }}",
]


def snippet_cases():
    from transformers.utils.chat_template_utils import render_jinja_template

    msgs = [SYS, U1, A1, U2]
    out = []
    for tpl in SNIPPETS:
        rendered, _ = render_jinja_template(conversations=[msgs], chat_template=tpl, add_generation_prompt=True,
                                            bos_token="<s>", eos_token="</s>")
        plain = plain_jinja_render(tpl, messages=msgs, tools=None, documents=None, add_generation_prompt=True,
                                   bos_token="<s>", eos_token="</s>")
        if plain != rendered[0]:
            sys.exit(f"snippet {tpl!r}: references disagree: {rendered[0]!r} vs {plain!r}")
        out.append({"template": tpl, "expected": rendered[0]})
    return out


# More real templates (tests/fixtures/chat/templates/extra/, from llama.cpp's
# models/templates collection of Hugging Face chat templates): no built-in
# uses them; they show the interpreter handles what models ship (macros,
# namespaces, tool branches, dates). date_string is passed so that Llama 3.x
# renders a fixed date rather than strftime_now().
EXTRA_VARS = {"date_string": "26 Jul 2024"}


def extra_cases():
    import glob

    from transformers.utils.chat_template_utils import render_jinja_template

    templates, cases = {}, []
    for path in sorted(glob.glob(os.path.join(FIX, "templates", "extra", "*.jinja"))):
        name = os.path.basename(path)[: -len(".jinja")]
        with open(path, encoding="utf-8") as f:
            tpl = f.read()
        templates[name] = tpl
        for cname, msgs, gen in COMMON:
            kw = dict(bos_token="<s>", eos_token="</s>", **EXTRA_VARS)
            c = {"template": name, "name": cname, "messages": msgs, "add_generation_prompt": gen}
            try:
                rendered, _ = render_jinja_template(conversations=[msgs], chat_template=tpl,
                                                    add_generation_prompt=gen, **kw)
                ref = ("ok", rendered[0])
            except jinja2.exceptions.TemplateError as e:
                ref = ("error", str(e))
            try:
                plain = ("ok", plain_jinja_render(tpl, messages=msgs, tools=None, documents=None,
                                                  add_generation_prompt=gen, **kw))
            except jinja2.exceptions.TemplateError as e:
                plain = ("error", str(e))
            if plain != ref:
                sys.exit(f"extra {name}/{cname}: references disagree: {ref!r} vs {plain!r}")
            c["expected" if ref[0] == "ok" else "error"] = ref[1]
            cases.append(c)
    return {"vars": EXTRA_VARS, "bos_token": "<s>", "eos_token": "</s>", "templates": templates, "cases": cases}


# Tool use: OpenAI-style tool schemas and messages with tool_calls / tool
# results, for the templates that render them (Qwen3 and several extras).
TOOLS = [
    {"type": "function", "function": {
        "name": "get_weather", "description": "Get the current weather for a city.",
        "parameters": {"type": "object", "properties": {
            "city": {"type": "string", "description": "City name, e.g. Paris"},
            "unit": {"type": "string", "enum": ["c", "f"]}}, "required": ["city"]}}},
    {"type": "function", "function": {
        "name": "add", "description": "Add two integers.",
        "parameters": {"type": "object", "properties": {"a": {"type": "integer"}, "b": {"type": "integer"}},
                       "required": ["a", "b"]}}},
]
TU = {"role": "user", "content": "What's the weather in Paris? Also add 2 and 3."}
TA_CALLS = {"role": "assistant", "content": "", "tool_calls": [
    {"id": "call12345", "type": "function", "function": {"name": "get_weather", "arguments": {"city": "Paris", "unit": "c"}}},
    {"id": "call67890", "type": "function", "function": {"name": "add", "arguments": {"a": 2, "b": 3}}}]}
TA_CALL_STR = {"role": "assistant", "content": "Let me check.", "tool_calls": [
    {"id": "call12345", "type": "function", "function": {"name": "get_weather", "arguments": "{\"city\": \"Paris\"}"}}]}
TA_ONE = {"role": "assistant", "content": "", "tool_calls": [
    {"id": "call12345", "type": "function", "function": {"name": "get_weather", "arguments": {"city": "Paris", "unit": "c"}}}]}
TR1 = {"role": "tool", "tool_call_id": "call12345", "name": "get_weather", "content": "{\"temp\": 21, \"sky\": \"clear\"}"}
TR2 = {"role": "tool", "tool_call_id": "call67890", "name": "add", "content": "5"}
TA_FINAL = {"role": "assistant", "content": "It is 21°C and clear in Paris, and 2 + 3 = 5."}
TOOL_CONVS = [
    # (name, messages, tools?, add_generation_prompt, enable_thinking)
    ("tools_user_gen", [TU], True, True, None),
    ("tools_system_user_gen", [SYS, TU], True, True, None),
    ("tools_full_exchange", [SYS, TU, TA_CALLS, TR1, TR2, TA_FINAL], True, False, None),
    ("tools_exchange_then_user", [TU, TA_CALLS, TR1, TR2, TA_FINAL, U2], True, True, None),
    ("tools_pending_results_gen", [TU, TA_CALLS, TR1, TR2], True, True, None),
    ("tools_string_arguments", [TU, TA_CALL_STR, TR1], True, True, None),
    ("tools_single_call_exchange", [SYS, TU, TA_ONE, TR1, TA_FINAL], True, False, None),
    ("tool_history_without_tools", [TU, TA_CALLS, TR1, TR2, TA_FINAL], False, True, None),
    ("tools_thinking_off", [TU], True, True, False),
]
TOOL_TEMPLATES = {  # fixture key -> (where, bos, eos)
    "qwen3": ("family", None, "<|im_end|>"),
    "Qwen-Qwen2.5-7B-Instruct": ("extra", "<s>", "</s>"),
    "meta-llama-Llama-3.1-8B-Instruct": ("extra", "<s>", "</s>"),
    "meta-llama-Llama-3.2-3B-Instruct": ("extra", "<s>", "</s>"),
    "mistralai-Mistral-Nemo-Instruct-2407": ("extra", "<s>", "</s>"),
    "CohereForAI-c4ai-command-r7b-12-2024-tool_use": ("extra", "<s>", "</s>"),
}


def tool_cases(templates, extra_templates):
    from transformers.utils.chat_template_utils import render_jinja_template

    out = []
    for key, (where, bos, eos) in TOOL_TEMPLATES.items():
        tpl = templates[key] if where == "family" else extra_templates[key]
        for name, msgs, with_tools, gen, think in TOOL_CONVS:
            if think is not None and key != "qwen3":
                continue
            kw = {}
            if bos is not None:
                kw["bos_token"] = bos
            if eos is not None:
                kw["eos_token"] = eos
            if where == "extra":
                kw.update(EXTRA_VARS)
            if think is not None:
                kw["enable_thinking"] = think
            tools = TOOLS if with_tools else None
            try:
                rendered, _ = render_jinja_template(conversations=[msgs], tools=tools, chat_template=tpl,
                                                    add_generation_prompt=gen, **kw)
                ref = ("ok", rendered[0])
            except jinja2.exceptions.TemplateError as e:
                ref = ("error", str(e))
            try:
                plain = ("ok", plain_jinja_render(tpl, messages=msgs, tools=tools, documents=None,
                                                  add_generation_prompt=gen, **kw))
            except jinja2.exceptions.TemplateError as e:
                plain = ("error", str(e))
            if plain != ref:
                sys.exit(f"tools {key}/{name}: references disagree: {ref!r} vs {plain!r}")
            c = {"template": key, "where": where, "name": name, "messages": msgs, "tools": tools,
                 "add_generation_prompt": gen, "vars": kw}
            c["expected" if ref[0] == "ok" else "error"] = ref[1]
            out.append(c)
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--shared", default="/work/shared/data")
    ap.add_argument("--model", default=os.path.join(ROOT, "models", "SmolLM2-135M-Instruct.Q4_1.gguf"))
    args = ap.parse_args()

    templates = load_templates(args.shared, args.model)
    from transformers import AutoTokenizer

    tokenizers = {}
    for fam in ("llama2", "llama3", "qwen3"):
        tokenizers[fam] = AutoTokenizer.from_pretrained(os.path.join(args.shared, "tokenizers", fam))
    tokens = {fam: {"bos_token": b, "eos_token": e} for fam, (b, e) in TOKENS.items()}
    for fam in ("llama2", "llama3", "qwen3"):  # the folders must agree with the table above
        tk = tokenizers[fam]
        if (tk.bos_token, tk.eos_token) != TOKENS[fam]:
            sys.exit(f"{fam}: tokenizer special tokens {(tk.bos_token, tk.eos_token)} != {TOKENS[fam]}")

    cases = []
    for fam in ("llama2", "llama3", "qwen3", "smollm2", "mistral", "qwen2", "chatml"):
        for case in cases_for(fam):
            status, text = render_all(fam, templates[fam], case, tokenizers.get(fam))
            c = {"family": fam, **case}
            if status == "ok":
                c["expected"] = text
            else:
                c["error"] = text
            cases.append(c)
    out = {
        "generator": "scripts/make_chat_fixtures.py (transformers render_jinja_template, cross-checked with "
                     "apply_chat_template and plain jinja2)",
        "templates": templates,
        "tokens": tokens,
        "cases": cases,
        "snippet_messages": [SYS, U1, A1, U2],
        "snippets": snippet_cases(),
        "extra": extra_cases(),
    }
    out["tool_cases"] = tool_cases(templates, out["extra"]["templates"])
    path = os.path.join(FIX, "chat_cases.json")
    with open(path, "w", encoding="utf-8") as f:
        json.dump(out, f, ensure_ascii=False, indent=1)
        f.write("\n")
    per = {}
    for c in cases:
        per[c["family"]] = per.get(c["family"], 0) + 1
    print(f"wrote {path}: {len(cases)} cases {per}, {len(out['snippets'])} snippets, "
          f"{len(out['extra']['cases'])} cases over {len(out['extra']['templates'])} extra templates, "
          f"{len(out['tool_cases'])} tool-use cases")


if __name__ == "__main__":
    main()
