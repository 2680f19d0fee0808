"""Fixture for `ClipTokenizer::train` (tests/backbones/test_caption_tokenizer.cpp): the tokenizer that
`longvid text train-tokenizer` trains on tests/data/text/caption_corpus.txt, read by transformers'
CLIPTokenizer, and the ids it gives to a set of prompts (77 tokens, padded, as FrozenCLIPEmbedder).

    python tests/data/gen/gen_caption_tokenizer.py build/longvid
"""
import json
import os
import subprocess
import sys
import tempfile

from transformers import CLIPTokenizer

here = os.path.dirname(os.path.abspath(__file__))
data = os.path.join(here, "..", "text")
corpus = os.path.join(data, "caption_corpus.txt")
longvid = sys.argv[1]

prompts = [l for l in open(corpus, encoding="utf-8").read().split("\n") if l]
prompts += [
    "", "Two RED squares, moving LEFT!!", "a zebra crossing the road", "a purple sprite", "twelve discs",
    "a cyan disc moving up and left, a yellow square moving down and right and an orange disc bouncing, "
    "on a dark grey background",
    "  spaces\tand\nnewlines  ", "emoji 🎥🟥 and accents: crème brûlée", "numbers 1 22 333", "it's a red disc's path",
    " ".join(["red square"] * 60),  # truncated at 77 tokens
]
with tempfile.TemporaryDirectory() as d:
    subprocess.run([longvid, "text", "train-tokenizer", "--corpus", corpus, "-o", d, "--merges", "2000"], check=True)
    tok = CLIPTokenizer.from_pretrained(d)
    vocab_size = len(tok)
    ids = [tok(p, padding="max_length", max_length=77, truncation=True).input_ids for p in prompts]
out = {"vocab_size": vocab_size, "prompts": prompts, "ids": ids,
       "made_with": "transformers " + __import__("transformers").__version__ + " CLIPTokenizer"}
with open(os.path.join(data, "caption_tokenizer_ids.json"), "w", encoding="utf-8") as f:
    json.dump(out, f, ensure_ascii=False)
print(vocab_size, len(prompts))
