#!/usr/bin/env python3
"""Golden chat prompts of transformers' `apply_chat_template` for mosx's `prompt_format: chat`.

Run with the dev venv (transformers 5.24; torch is not needed):

    .venv-dev/bin/python tools/golden_chat.py crates/mosx-models/tests/golden/chat

The folder holds `tokenizer.json` and `tokenizer_config.json` as `mosx tiny-model --arch
qwen2` writes them (a byte-level BPE tokenizer with `<|im_start|>` / `<|im_end|>` and a
ChatML-style `chat_template`). For each prompt below (task prompts of the shape mosx renders,
with newlines, surrounding spaces and non-ASCII titles) the script records the text of
`apply_chat_template([{"role": "user", "content": prompt}], add_generation_prompt=True,
tokenize=False)` and its token ids (`tokenize=True`), and the ids of the bare answer words
"Yes" and "No" that open the assistant turn, into `golden.json`.
"""

import json
import sys

import transformers
from transformers import AutoTokenizer

PROMPTS = [
    "Given the user's preference and unpreference, identify whether the user will like the "
    "target movie by answering \"Yes.\" or \"No.\".\nUser Preference: \"Heat (1995)\", "
    "\"Casino (1995)\"\nUser Unpreference: \"Babe (1995)\"\nWhether the user will like the "
    "target movie \"Toy Story (1995)\"?\nAnswer:",
    "  The user is a female.\nUser Preference: \"Amélie (2001)\"\nAnswer:  ",
    "Yes or No?",
]


def ids_of(out):
    """`apply_chat_template(tokenize=True)` gives ids or a BatchEncoding by version."""
    if hasattr(out, "keys"):
        out = out["input_ids"]
    return [int(i) for i in out]


def main(folder):
    tok = AutoTokenizer.from_pretrained(folder)
    cases = []
    for p in PROMPTS:
        messages = [{"role": "user", "content": p}]
        text = tok.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
        ids = ids_of(tok.apply_chat_template(messages, add_generation_prompt=True, tokenize=True))
        assert ids == tok(text, add_special_tokens=False)["input_ids"], p
        cases.append({"prompt": p, "text": text, "ids": ids})
    answer = [tok("Yes", add_special_tokens=False)["input_ids"][0],
              tok("No", add_special_tokens=False)["input_ids"][0]]
    out = {"transformers": transformers.__version__, "cases": cases, "bare_answer_ids": answer}
    with open(f"{folder}/golden.json", "w") as f:
        json.dump(out, f, indent=1, ensure_ascii=False)
        f.write("\n")
    print(f"{len(cases)} chat prompts -> {folder}/golden.json")


if __name__ == "__main__":
    main(sys.argv[1])
