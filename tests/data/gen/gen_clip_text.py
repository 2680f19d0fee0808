#!/usr/bin/env python3
"""Generates the CLIP text fixtures (tests/data/text/) for LVDM's FrozenCLIPEmbedder: transformers
CLIPTokenizer + CLIPTextModel of openai/clip-vit-large-patch14, called with truncation=True, max_length=77,
padding="max_length". Nothing is downloaded from the Hugging Face hub: the vocabulary is rebuilt from
openai/CLIP's clip/bpe_simple_vocab_16e6.txt.gz, which is NOT part of this repository:

    mkdir -p /tmp/clip_vocab
    git -C CLIP.git show HEAD:clip/bpe_simple_vocab_16e6.txt.gz > /tmp/clip_vocab/bpe_simple_vocab_16e6.txt.gz
    #   (CLIP.git: a clone or bare mirror of https://github.com/openai/CLIP; tested at d05afc4,
    #    sha256 924691ac288e54409236115652ad4aa250f48203de50a9e4722a6ecd48d6804a)
    OMP_NUM_THREADS=1 python tests/data/gen/gen_clip_text.py \
        [--bpe-gz /tmp/clip_vocab/bpe_simple_vocab_16e6.txt.gz] [--full-dir /tmp/clip_vocab] [--out tests/data/text]

(--bpe-gz defaults to $CLIP_BPE_GZ, else /tmp/clip_vocab/bpe_simple_vocab_16e6.txt.gz.) Needs torch,
safetensors, transformers >= 5 (its CLIPTokenizer is the `tokenizers`-backed one; tested with transformers
5.24.0, tokenizers 0.23.3, torch 2.11) and imports det_fill.py from this folder. CPU only, a few seconds.

Vocabulary (what openai's SimpleTokenizer builds, i.e. the content of the hub's vocab.json / merges.txt;
"a photo of a cat" -> 49406 320 1125 539 320 2368 49407):
ids 0..255 are the 256 byte symbols of the GPT-2 byte-to-unicode table in increasing code point order
(printable bytes map to themselves, the other 68 bytes to U+0100..U+0143), ids 256..511 the same symbols
+ "</w>", then one id per merge (the two halves joined), then <|startoftext|>, <|endoftext|>. The merges
are lines 1 .. 48894 of the gz (line 0 is a version header); merges.txt starts with "#version: 0.2".
Full: 48,894 merges, 49,408 ids, BOS 49406, EOS 49407. Small (committed): the first 6,000 merges,
6,514 ids, BOS 6512, EOS 6513.

Fixtures (tests/data/text/)
  clip_small/vocab.json, clip_small/merges.txt   the small vocabulary.
  prompts.json                a JSON list of 1,838 prompts (UTF-8, ensure_ascii=False: only U+0000..U+001F,
                              '"' and '\\' are escaped), made here with random.Random(20240611): video captions, case
                              variants, many scripts, NFC/NFD pairs, emoji sequences, punctuation, numbers,
                              contractions, HTML, URLs, odd whitespace, zero-width and control characters,
                              special-token text, exact-length prompts around the 75-token limit, 300-word
                              paragraphs, single characters, empty and whitespace-only strings, random mixes.
                              Rows 0..3: a caption, a 120-word paragraph (cut at 77), "", mixed scripts.
  clip_small_ids.safetensors  input_ids int64 [N, 77]: tokenizer(prompts, truncation=True, max_length=77,
                              return_length=True, return_overflowing_tokens=False, padding="max_length",
                              return_tensors="pt")["input_ids"] with the small vocabulary, row i = prompt i;
                              lengths int64 [N]: the unpadded length (BOS + tokens + EOS, at most 77) =
                              tokenizer(prompt, truncation=True, max_length=77) without padding, because
                              the padded call's return_length reports 77 for every row (also stored, as
                              return_length int64 [N]); ntokens_untruncated int64 [N]: the token count
                              without BOS/EOS and without truncation.
  clip_text_tiny.safetensors  a reduced CLIPTextModel (vocab 6514, hidden 64, intermediate 128, 3 layers,
                              4 heads, max_position 77, quick_gelu, eps 1e-5, bos 6512, eos = pad 6513),
                              every parameter det_fill()ed (det_fill.py; no weights stored) under its
                              checkpoint name text_model.* (transformers 5 names it without "text_model."; the
                              names and shapes are in the metadata "parameters"), eager attention,
                              float32, eval, input_ids only (no attention_mask, as FrozenCLIPEmbedder):
                              input_ids int64 [4, 77] (rows 0..3 of clip_small_ids), last_hidden_state
                              [4, 77, 64] (after final_layer_norm), pooler_output [4, 64] (eos_token_id != 2:
                              the row's first position whose id == eos_token_id), penultimate [4, 77, 64] =
                              final_layer_norm(hidden_states[-2]). Metadata: the config and the float32 vs
                              float64 differences.
Not committed (--full-dir): vocab.json, merges.txt and clip_full_ids.safetensors (same keys) of the full
vocabulary.
"""
import argparse
import gzip
import json
import os
import random
import sys
import unicodedata

import torch
from safetensors.torch import save_file

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import det_fill  # noqa: E402

REPO = os.path.abspath(os.path.join(HERE, "..", "..", ".."))
MAX_LEN = 77
N_MERGES_FULL = 49152 - 256 - 2  # 48,894
N_MERGES_SMALL = 6000
BOS, EOS = "<|startoftext|>", "<|endoftext|>"
SEED = 20240611


# ------------------------------------------------------------------------------------------------ vocabulary


def byte_symbols():
    """The 256 byte symbols in vocabulary order. A byte that is a printable Latin-1 character other than
    the space, NBSP and soft hyphen (0x21-0x7E, 0xA1-0xAC, 0xAE-0xFF) stands for itself; the remaining 68
    bytes get U+0100, U+0101, ... in increasing byte order. The vocabulary lists the kept bytes first,
    which makes it simply increasing code point order."""
    printable = set(range(0x21, 0x7F)) | set(range(0xA1, 0xAD)) | set(range(0xAE, 0x100))
    sym, nxt = {}, 0x100
    for b in range(256):
        if b in printable:
            sym[b] = chr(b)
        else:
            sym[b] = chr(nxt)
            nxt += 1
    return sorted(sym.values())


def read_merges(gz_path):
    with gzip.open(gz_path, "rb") as f:
        lines = f.read().decode("utf-8").split("\n")
    merges = lines[1:N_MERGES_FULL + 1]
    assert len(merges) == N_MERGES_FULL, len(merges)
    for m in merges:
        assert len(m.split()) == 2, m
    return merges


def build_vocab(merges):
    syms = byte_symbols()
    tokens = syms + [s + "</w>" for s in syms] + ["".join(m.split()) for m in merges] + [BOS, EOS]
    vocab = {t: i for i, t in enumerate(tokens)}
    assert len(vocab) == len(tokens), "duplicate vocabulary entries"
    return vocab


def write_vocab(dir_, merges):
    os.makedirs(dir_, exist_ok=True)
    vocab = build_vocab(merges)
    with open(os.path.join(dir_, "vocab.json"), "w", encoding="utf-8") as f:
        json.dump(vocab, f, ensure_ascii=False, separators=(",", ":"))
    with open(os.path.join(dir_, "merges.txt"), "w", encoding="utf-8") as f:
        f.write("#version: 0.2\n" + "\n".join(merges) + "\n")
    return vocab


# ------------------------------------------------------------------------------------------------- prompts

SUBJECTS = ["a dog", "a golden retriever puppy", "two children", "an astronaut", "a red sports car",
            "a flock of birds", "a chef", "a sailboat", "a white horse", "a small robot", "an old man",
            "a black cat", "a ballet dancer", "a huge waterfall", "storm clouds", "a steam train",
            "a skateboarder", "a glowing jellyfish", "a giant panda", "fireworks", "a hot air balloon",
            "a surfer", "a group of friends", "a polar bear", "a drone", "a butterfly", "a chess player",
            "a street musician", "a koala", "an elephant herd"]
ACTIONS = ["running along", "walking through", "flying over", "dancing in", "swimming in", "driving down",
           "jumping over", "sitting on", "playing near", "floating above", "rolling across", "sleeping in",
           "climbing", "exploring", "spinning around in", "waiting at"]
PLACES = ["a sandy beach at sunset", "a snowy pine forest", "a busy city street at night",
          "the surface of the moon", "a field of sunflowers", "a misty mountain lake", "an empty parking lot",
          "a neon-lit alley", "a cozy kitchen", "the open ocean", "a desert canyon", "a rainy train station",
          "a coral reef", "a medieval castle courtyard", "a futuristic space station", "a quiet library",
          "a crowded subway car", "the top of a skyscraper", "a bamboo grove", "a frozen waterfall"]
STYLES = ["", ", slow motion", ", time-lapse", ", 4k, highly detailed", ", cinematic lighting", ", drone shot",
          ", handheld camera", ", in the style of van gogh", ", 8k uhd, trending on artstation",
          ", shot on 35mm film", ", wide angle, golden hour", ", close-up", ", tracking shot, shallow depth of field",
          ", anime style", ", black and white"]
WORDS = ("the a of and to in is was it for on with as at by from this that be are have not but they his her "
         "video camera scene light shadow river mountain forest city night morning ocean wave wind rain snow "
         "slowly quickly bright dark golden silver ancient modern small large quiet loud gentle wild frame "
         "moves turns rises falls glows flickers drifts crashes shimmers reflects follows reveals zooms pans "
         "sky cloud tree flower bird horse dog cat child woman man street car train boat bridge window door "
         "beautiful cinematic detailed colorful misty sunny stormy peaceful dramatic vivid soft sharp blurry "
         "running walking flying dancing swimming sitting standing jumping laughing singing watching waiting").split()

LATIN = ["Café crème brûlée à la française", "El niño juega en la montaña con su piñata",
         "Über den Wolken fährt ein grüner Zug", "Smørrebrød på bordet i København, Ærøskøbing",
         "Die Straße ist naß und die Maße stimmen", "İstanbul'da güneşli bir gün, ışık ve İZMİR",
         "Das ſchöne Haus am ſee, Geſchichte", "Łódź w zimie, źdźbło trawy", "Čeština: ďábel, ťava, ňadra, ř",
         "façade naïve coöperate résumé", "ÉCOLE ÉLÉMENTAIRE À PARIS", "ß ẞ SS ss Straße STRASSE",
         "ŒUVRE œuvre Æsir æther", "ﬁnancial ﬂow ﬀ ﬃ ligatures", "Ǆemal ǅemal ǆemal", "ǰ ǰ",
         "Kelvin sign: 273 K, angstrom: 1 Å, ohm: 5 Ω", "Ðorđe and ðe þorn Þ", "Română: ș ț ş ţ Ș Ț",
         "Tiếng Việt: Việt Nam, phở, đường", "Ĳssel ĳs", "ŉ ŀ Ŀ ĸ", "Íslenska: Þingvellir, fjörður",
         "Malmö, Åre, Göteborg", "Señor Muñoz y la Peña", "São Paulo à noite, coração", "Dvořák and Šostakovič"]
GREEK = ["Η γάτα κάθεται στο παράθυρο", "ΟΔΥΣΣΕΥΣ", "ΣΊΣΥΦΟΣ ΚΑΙ Ο ΒΡΑΧΟΣ", "ΣΑΣ ΕΣΑΣ", "Σ", "ΑΣ.", "ΑΣ1",
         "ΑΣ's", "ΟΔΟΣ ΟΔΟΣ", "ΑΣΣ", "ΑΣ\u0301", "ΑΣΑ", "λόγος και κόσμος", "ς σ Σ", "ΜΆΘΗΜΑ ΦΥΣΙΚΉΣ",
         "ὁδός ἀρχή ῥῆμα", "Ἀθῆναι ᾼ ᾳ", "ΑΣ-ΒΣ", "ΆΣ ΈΣ", "The word ΣΟΦΙΑΣ ends in sigma", "αβγδεζηθικλμνξοπρστυφχψω",
         "ΑΒΓΔΕΖΗΘΙΚΛΜΝΞΟΠΡΣΤΥΦΧΨΩ", "ΐ ΰ Ϊ Ϋ", "ϐ ϑ ϕ ϖ ϰ ϱ ϲ ϴ ϵ"]
CYRILLIC = ["Кошка сидит на окне", "МОСКВА ЗИМОЙ", "Ёлка и ёж в лесу", "Україна: Київ, ї, є, ґ",
            "Српски: ђ, ћ, џ, љ, њ", "Быстрая лиса прыгает через ленивую собаку", "ПРИВЕТ, мир!",
            "Қазақша: ә, ғ, қ, ң, ө, ұ, ү, һ, і", "й и\u0306 Й И\u0306"]
CJK = ["一只猫在屋顶上散步", "東京の夜景", "猫が走っている", "繁體中文測試：龍與鳳", "中文，标点！（括号）「引号」",
       "ＡＢＣ１２３ｘｙｚ", "𠀀𠀁𠀂 𪚥", "北京欢迎你 2008", "今日は良い天気ですね。", "日本語とEnglishの混在テキスト",
       "〇一二三四五六七八九十", "㈱ ㍻ ㋿"]
KANA = ["ねこがはしる", "カタカナのテスト", "ｶﾀｶﾅ ﾊﾝｶｸ", "が か\u3099 ガ カ\u3099", "ぱぴぷぺぽ パピプペポ", "ゔ ヴ ー ゝ ゞ"]
KOREAN = ["고양이가 지붕 위를 걷는다", "\u1100\u1161\u11a8 \u1112\u1161\u11ab", "한국어 텍스트와 숫자 123",
          "서울의 밤거리, 네온사인"]
ARABIC = ["قطة تجلس على النافذة", "٠١٢٣٤٥٦٧٨٩", "مُحَمَّد", "\u200fالعربية\u200f", "العدد ٣٫١٤ و ١٬٠٠٠",
          "الفيديو: قارب في البحر عند الغروب", "فارسی: ۱۲۳ ۴۵۶ یک گربه", "ﷺ ﻻ ﻼ"]
HEBREW = ["חתול יושב על החלון", "שָׁלוֹם עֲלֵיכֶם", "עברית 123 English", "ירושלים בלילה"]
DEVANAGARI = ["एक बिल्ली खिड़की पर बैठी है", "नमस्ते दुनिया", "हिन्दी १२३ अंक", "क़ ख़ ग़ ज़ ड़ ढ़ फ़ य़",
              "क\u093c ख\u093c"]
THAI = ["แมวนั่งอยู่บนหน้าต่าง", "ภาษาไทย ๑๒๓", "สวัสดีครับ กรุงเทพมหานคร"]
OTHER_SCRIPTS = ["Հայերեն լեզու", "ქართული ენა", "አማርኛ ቋንቋ", "ᏣᎳᎩ", "ᚠᚢᚦᚨᚱᚲ", "𐌰𐌱𐌲 gothic", "ꦗꦮ", "ᠮᠣᠩᠭᠣᠯ\u180e",
                 "བོད་སྐད", "ಕನ್ನಡ ತಮಿಳ್ தமிழ்", "বাংলা ভাষা", "ગુજરાતી", "ਪੰਜਾਬੀ", "සිංහල", "ລາວ", "ខ្មែរ",
                 "မြန်မာ", "𝐁𝐨𝐥𝐝 𝑰𝒕𝒂𝒍𝒊𝒄 𝔉𝔯𝔞𝔨𝔱𝔲𝔯 𝟙𝟚𝟛", "Ⓐⓑⓒ", "🄰🄱🄲"]
NFC_BASE = ["café", "Ångström", "über", "ñandú", "Việt Nam", "Crème Brûlée", "ÉCOLE", "naïve façade", "Ὀδυσσεύς",
            "Ёжик", "résumé", "Zürich München Köln", "piñata", "ḱ ṩ ẛ", "Å Å"]
COMBINING = ["e\u0301\u0301", "q\u0307", "a\u0308\u0304", "Z\u0324\u0308", "H\u0337\u031b\u0332e\u0338\u0359\u034al\u0335\u0330\u035dl\u0336\u0330\u0308o\u030b\u0337\u0333",
             "\u0301 leading combining mark", "x\u20dd", "1\u20e3", "a\u0345", "i\u0307\u0301", "s\u0323\u0307",
             "\u0627\u064b", "\u0915\u094d\u0937"]
EMOJI = ["🐶", "a dog 🐶 running 🏃‍♂️ on the beach 🏖️", "👨‍👩‍👧‍👦 family picnic", "👍🏽 👍🏿 👍🏻", "🇯🇵 🇺🇸 🇩🇪 🇧🇷",
         "🏳️‍🌈 parade", "❤️ vs ❤ vs ♥", "🔥🔥🔥", "☕ morning coffee", "keycaps 1️⃣ #️⃣ *️⃣", "🧑🏻‍💻 coding",
         "🏴󠁧󠁢󠁳󠁣󠁴󠁿 scotland", "😂😂😂 lol", "🌊🏄‍♀️🌅", "🤷‍♂️", "👩🏾‍🚀 astronaut", "🐕‍🦺", "✨magic✨", "©️ ®️ ™️",
         "☺ ☹ ☠", "🫠🫡🫶", "🦄 unicorn 🌈 rainbow"]
PUNCT = ["wow!!!", "wait...", "what?!?!", "well -- maybe", "“quoted text”", "‘single quotes’", "«guillemets»",
         "„German quotes“", "「Japanese」『quotes』", "'''", "\"double\"", "—em dash— and –en dash–", "… ellipsis",
         "(((nested)))", "[brackets] {braces} <angles>", "#hashtag @mention", "a/b\\c", "~`^_|", "$100 €50 £20 ¥1000",
         "100% and 50‰", "a&b", "x*y=z+1", "!!!???...", "?!", ".", ",,,", ";;;:::", "¿Qué? ¡Sí!", "※ § ¶ † ‡ •",
         "→ ← ↑ ↓ ⇒", "∑ ∫ √ ∞ ≠ ≤ ≥", "♪♫ music", "°C 25° ±3", "'hello'", "\"\"\"", "- - -", "___", "***bold***",
         "!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!"]
NUMBERS = ["123456", "3.14159", "1,000,000", "½ ¼ ¾ ⅓", "x² + y³ = z⁴", "①②③ ⑩", "Ⅻ Ⅳ ⅻ roman", "٣.١٤", "۱۲۳",
           "1st 2nd 3rd 4th", "2024-01-31", "12:30pm", "0x1F", "1e-5", "-42", "+7", "007", "⁴² ₀₁", "3/4 cup",
           "99.99%", "10,000 frames", "１２３", "𝟘𝟙𝟚", "1080p 60fps", "v1.2.3", "$3.50", "24/7", "2^10=1024",
           "phone 555-0199", "0", "9", "123.456.789,01"]
CONTRACTIONS = ["it's", "don't", "they're", "we've", "I'm", "you'll", "he'd", "IT'S", "DON'T", "THEY'RE", "WE'VE",
                "I'M", "YOU'LL", "HE'D", "It'S", "dOn'T", "it’s", "don’t", "they’re", "we’ve", "I’m", "you’ll",
                "he’d", "rock'n'roll", "'s", "'sup", "o'clock", "can't've", "y'all'd've", "'twas", "'S'T",
                "isnʼt (modifier apostrophe)", "dogs' toys", "James's car", "the cat's toy's box", "it''s",
                "it 's", "' s", "'re'", "'LL'D", "l'été d'Aurélie", "'m'm'm", "'D", "'ve", "don`t", "don´t",
                "it‘s", "they′re"]
HTML = ["&amp;", "Tom &amp; Jerry", "&lt;b&gt;bold&lt;/b&gt;", "<b>bold</b>", "<i>italic</i> text", "&quot;quoted&quot;",
        "&#39;", "&#x27;s", "a&nbsp;b", "&amp;amp;", "<br/>line<br>break", "<a href=\"https://example.com\">link</a>",
        "&eacute;t&eacute;", "&copy; 2024", "<div class='x'>hi</div>", "&#128054;", "&unknown;", "AT&T", "<p>",
        "</w>", "a</w>b", "<script>alert(1)</script>"]
URLS = ["https://www.example.com/path?query=1&x=y#frag", "http://t.co/abc123", "www.google.com",
        "user@example.com", "ftp://files.example.org/a_b-c.txt", "C:\\Users\\test\\file.txt", "/usr/local/bin",
        "see https://youtu.be/dQw4w9WgXcQ?t=42 now", "file:///tmp/x.mp4", "https://例え.jp/パス",
        "http://[::1]:8080/", "mailto:a.b+c@d.io"]
WHITESPACE = ["a\tb", "a\nb", "a\r\nb", "a\u00a0b", "a\u202fb", "a\u3000b", "a\u2003b", "a\u2028b", "a\u2029b",
              "a\u0085b", "a\u180eb", "a\u200bb", "a\u200cb", "a\u200db", "a\ufeffb", "a\u2060b", "a\u00adb",
              "a  b", "a     b", "  leading spaces", "trailing spaces   ", "\t\ttabs\t\t", "\n\nnewlines\n\n",
              "a \t\n\r\u00a0\u3000 b", "a\u000bb", "a\u000cb", "a\u001cb", "a\u001db", "a\u001eb", "a\u001fb",
              "a\u1680b", "a\u2000b\u2001c\u2002d\u2004e\u2005f\u2006g\u2007h\u2008i\u2009j\u200ak", "a\u205fb",
              "tab\tseparated\tvalues", "line one\nline two\nline three", "\u200b\u200bzero width\u200b",
              "soft\u00adhyphen", "wo\u200drd", "\u2066isolate\u2069 \u202aembed\u202c"]
CONTROL = ["a\u0000b", "a\u0001b", "bell\u0007", "back\u0008space", "\u001b[31mred\u001b[0m", "del\u007f",
           "c1\u0080\u0081\u009f", "\u0002start\u0003", "a\ufffdb", "private\ue000use", "nonchar\uffff",
           "unassigned\u0378", "max\U0010fffd", "tag\U000e0041"]
SPECIAL = ["<|startoftext|>", "<|endoftext|>", "a <|endoftext|> b", "<|ENDOFTEXT|>", "<|endoftext|><|endoftext|>",
           "<|startoftext|>hello<|endoftext|>", "<| endoftext |>", "<|endoftext|", "endoftext", "startoftext",
           "<|startoftext|> a photo", "a photo<|endoftext|>", "<|StartOfText|>"]
SINGLES = ["a", "A", "z", "!", "1", "é", "ß", "Σ", "ς", "σ", "中", "🐶", "'", "\"", "<", ">", "&", "ſ", "İ", "ı",
           "ﬁ", "\u0301", "\u200b", "ẞ", "Ω", "Ω", "K", "ǅ", "ǰ", "ŉ", "ΐ", "ﬀ", "Ꭰ", "ꭰ", "ᏸ", "Ⅰ", "ⅰ", "Ⓐ",
           "𝔄", "😀", "¼", "²", "٣", "\u00a0", "\u3000", "~", "$", "\\", "/", "-", "_", "·", "ǈ", "Ꙋ", "ᲀ", "ẚ",
           "\U0001e900", "\U00010400", "ﬆ", "ᾈ", "ᾳ", "ῼ", "Ǳ", "\u0345", "\u0130\u0307"]
EMPTY = ["", " ", "   ", "\t", "\n", "\r\n", "\u00a0", "\u3000", " \t\n ", "\u200b", "\ufeff", "\u2028", "\u0085",
         "\u000b\u000c"]

# code point pools for random mixes (no surrogates; a few unassigned / private-use code points on purpose)
POOLS = [(0x20, 0x7E), (0xA0, 0x17F), (0x180, 0x24F), (0x370, 0x3FF), (0x400, 0x4FF), (0x530, 0x58F),
         (0x5D0, 0x5EA), (0x600, 0x6FF), (0x900, 0x97F), (0xE00, 0xE5B), (0x1100, 0x11FF), (0x1E00, 0x1FFF),
         (0x2000, 0x206F), (0x20A0, 0x20C0), (0x2100, 0x218B), (0x2190, 0x23FF), (0x2460, 0x24FF),
         (0x3000, 0x30FF), (0x3400, 0x3500), (0x4E00, 0x9FFF), (0xAC00, 0xD7A3), (0xFB00, 0xFB4F),
         (0xFE30, 0xFE4F), (0xFF00, 0xFFEF), (0x1D400, 0x1D7FF), (0x1F300, 0x1FAFF), (0x20000, 0x2A6DF),
         (0x0300, 0x036F), (0x0, 0x1F)]
# letters first assigned in Unicode 17 (unassigned, so "other", for the Oniguruma of tokenizers 0.23): replaced
# by the pool's first code point, so the corpus reads the same under any Unicode 14..17 letter/number table
RECENT_LETTERS = {0x558, 0x58B, 0x58C, 0x1D6A6}


def case_variants(s, rng):
    mixed = "".join(c.upper() if rng.random() < 0.5 else c.lower() for c in s)
    spongy = "".join(c.upper() if i % 2 else c.lower() for i, c in enumerate(s))
    return [s.upper(), s.title(), mixed, spongy]


def caption(rng):
    s = f"{rng.choice(SUBJECTS)} {rng.choice(ACTIONS)} {rng.choice(PLACES)}{rng.choice(STYLES)}"
    return s[0].upper() + s[1:] if rng.random() < 0.5 else s


def paragraph(rng, n_words):
    out = []
    for i in range(n_words):
        w = rng.choice(WORDS)
        if i == 0 or out[-1].endswith("."):
            w = w.capitalize()
        r = rng.random()
        if r < 0.08:
            w += ","
        elif r < 0.14:
            w += "."
        out.append(w)
    return " ".join(out) + "."


def rand_text(rng, n):
    parts = []
    for _ in range(n):
        lo, hi = rng.choice(POOLS)
        cp = rng.randint(lo, hi)
        if cp in RECENT_LETTERS:
            cp = lo
        parts.append(chr(cp))
        if rng.random() < 0.2:
            parts.append(rng.choice([" ", " ", "  ", "\t", "\n", "'s", "'T", "’", "\u200d", "\ufe0f"]))
    return "".join(parts)


def make_prompts():
    rng = random.Random(SEED)
    # rows 0..3 feed the model fixture: a caption, a paragraph cut at 77, the empty prompt, mixed scripts
    p = ["A golden retriever puppy running along a sandy beach at sunset, slow motion", paragraph(rng, 120), "",
         "Café ΟΔΟΣ 東京の夜景 🐶👍🏽 it’s 3.14!!"]
    # 1. video captions and their case variants
    caps = [caption(rng) for _ in range(260)]
    p += caps
    for s in caps[:60]:
        p += case_variants(s, rng)
    # 2. hand-written groups, plus an upper-case and a lower-case copy of each
    groups = [LATIN, GREEK, CYRILLIC, CJK, KANA, KOREAN, ARABIC, HEBREW, DEVANAGARI, THAI, OTHER_SCRIPTS, EMOJI,
              PUNCT, NUMBERS, CONTRACTIONS, HTML, URLS]
    for g in groups:
        for s in g:
            p.append(s)
            for v in (s.upper(), s.lower()):
                if v != s:
                    p.append(v)
    # 3. NFC / NFD / NFKC pairs of the same text
    for s in NFC_BASE + LATIN[:12] + GREEK[:8] + KOREAN[:2] + KANA[:4] + CYRILLIC[:4]:
        for form in ("NFC", "NFD", "NFKC", "NFKD"):
            v = unicodedata.normalize(form, s)
            if v not in p:
                p.append(v)
    p += COMBINING + WHITESPACE + CONTROL + SPECIAL + SINGLES + EMPTY
    # 4. decorated captions: each feature spliced into an ordinary caption
    feats = (EMOJI + PUNCT + NUMBERS + CONTRACTIONS + HTML + URLS + WHITESPACE + CONTROL + SPECIAL + COMBINING
             + GREEK + LATIN)
    for _ in range(260):
        c, f = caption(rng), rng.choice(feats)
        r = rng.random()
        p.append(f + " " + c if r < 0.3 else c + " " + f if r < 0.6 else c.replace(" ", " " + f + " ", 1))
    # 5. exact lengths around the limit: single letters are one token in any CLIP vocabulary
    for n in (1, 2, 10, 73, 74, 75, 76, 77, 78, 100):
        p.append(" ".join("abcdefghijklmnopqrstuvwxyz"[i % 26] for i in range(n)))
    for n in (74, 75, 76):  # the same with a multi-byte character at the cut
        p.append(" ".join(["a"] * (n - 1) + ["é中🐶"]))
    # 6. long prompts: 300-word paragraphs and long runs without spaces
    for n in (120, 200, 300, 300, 300, 300, 350, 400):
        p.append(paragraph(rng, n))
    p += ["a" * 500, "🐶" * 100, "!" * 300, "1234567890" * 20, "中文" * 150, "supercalifragilisticexpialidocious" * 8,
          "https://example.com/" + "/".join(f"segment{i}" for i in range(60)), ("word " * 200).strip(),
          "Σ" * 50 + " " + "ΑΣ " * 40, ("a\u0301" * 100), " ".join(caps[:20])]
    # 7. random mixes of code points from many blocks
    for _ in range(240):
        p.append(rand_text(rng, rng.randint(1, 40)))
    for _ in range(40):
        p.append(rand_text(rng, rng.randint(60, 160)))
    return p


# ---------------------------------------------------------------------------------------------- tokenizing


def load_tokenizer(dir_):
    from transformers import CLIPTokenizer
    tok = CLIPTokenizer.from_pretrained(dir_)
    return tok


def encode(tok, prompts):
    enc = tok(prompts, truncation=True, max_length=MAX_LEN, return_length=True, return_overflowing_tokens=False,
              padding="max_length", return_tensors="pt")
    ids = enc["input_ids"].to(torch.int64)
    assert tuple(ids.shape) == (len(prompts), MAX_LEN), ids.shape
    ret_len = enc["length"].to(torch.int64) if "length" in enc else torch.full((len(prompts),), -1)
    unpadded = tok(prompts, truncation=True, max_length=MAX_LEN)["input_ids"]
    lengths = torch.tensor([len(u) for u in unpadded], dtype=torch.int64)
    for i, u in enumerate(unpadded):
        assert ids[i, :len(u)].tolist() == u
    full = tok(prompts, add_special_tokens=False)["input_ids"]
    ntok = torch.tensor([len(u) for u in full], dtype=torch.int64)
    return {"input_ids": ids.contiguous(), "lengths": lengths, "return_length": ret_len.reshape(-1),
            "ntokens_untruncated": ntok}


def tokenizer_meta(tok):
    import tokenizers
    import transformers
    return {"generator": "tests/data/gen/gen_clip_text.py", "transformers": transformers.__version__,
            "tokenizers": tokenizers.__version__, "tokenizer_class": type(tok).__module__ + "." + type(tok).__name__,
            "bos_token_id": str(tok.bos_token_id), "eos_token_id": str(tok.eos_token_id),
            "pad_token_id": str(tok.pad_token_id), "max_length": str(MAX_LEN),
            "call": 'tokenizer(prompts, truncation=True, max_length=77, return_length=True, '
                    'return_overflowing_tokens=False, padding="max_length", return_tensors="pt")'}


# -------------------------------------------------------------------------------------------------- model


def tiny_config(vocab_size, bos, eos):
    from transformers import CLIPTextConfig
    return CLIPTextConfig(vocab_size=vocab_size, hidden_size=64, intermediate_size=128, num_hidden_layers=3,
                          num_attention_heads=4, max_position_embeddings=MAX_LEN, hidden_act="quick_gelu",
                          layer_norm_eps=1e-5, attention_dropout=0.0, bos_token_id=bos, eos_token_id=eos,
                          pad_token_id=eos, projection_dim=64)


def run_model(cfg, ids, dtype):
    from transformers import CLIPTextModel
    torch.manual_seed(0)
    cfg._attn_implementation = "eager"
    model = CLIPTextModel(cfg).eval()
    # det_fill hashes the parameter NAME: fill under the checkpoint names text_model.* (hub files, transformers
    # 4.x, LDM's cond_stage_model.transformer.text_model.*); transformers 5 drops that level from CLIPTextModel.
    tm = getattr(model, "text_model", model)
    holder = torch.nn.Module()
    holder.text_model = tm
    det_fill.det_fill(holder)
    model = model.to(dtype)
    with torch.no_grad():
        out = model(input_ids=ids, output_hidden_states=True)
        hs = out.hidden_states
        assert len(hs) == cfg.num_hidden_layers + 1
        assert torch.equal(hs[0], tm.embeddings(input_ids=ids))
        assert torch.equal(tm.final_layer_norm(hs[-1]), out.last_hidden_state)
        pen = tm.final_layer_norm(hs[-2])
    return holder, {"last_hidden_state": out.last_hidden_state, "pooler_output": out.pooler_output,
                    "penultimate": pen}


def model_fixture(vocab_size, bos, eos, ids, out_path):
    cfg = tiny_config(vocab_size, bos, eos)
    model, o32 = run_model(cfg, ids, torch.float32)
    _, o64 = run_model(tiny_config(vocab_size, bos, eos), ids, torch.float64)
    # the pooled row is picked by eos_token_id (transformers uses argmax(ids) only when eos_token_id == 2)
    pos = (ids == eos).int().argmax(-1)
    assert torch.equal(o32["pooler_output"], o32["last_hidden_state"][torch.arange(ids.shape[0]), pos])
    diffs = {}
    for k in o32:
        a, b = o32[k].double(), o64[k]
        diffs[k] = {"max_abs": (a - b).abs().max().item(), "max_abs_ref": b.abs().max().item(),
                    "max_rel_elementwise": ((a - b).abs() / b.abs().clamp_min(1e-3)).max().item()}
    meta = {"generator": "tests/data/gen/gen_clip_text.py", "torch": torch.__version__,
            "config": json.dumps({k: getattr(cfg, k) for k in (
                "vocab_size", "hidden_size", "intermediate_size", "num_hidden_layers", "num_attention_heads",
                "max_position_embeddings", "hidden_act", "layer_norm_eps", "bos_token_id", "eos_token_id",
                "pad_token_id")}),
            "weights": "det_fill.det_fill(model): every named parameter, float32",
            "pooler_rule": "eos_token_id != 2: first position with id == eos_token_id",
            "penultimate": "final_layer_norm(hidden_states[-2])",
            "f32_vs_f64": json.dumps(diffs),
            "parameters": json.dumps([[n, list(p.shape)] for n, p in model.named_parameters()])}
    tensors = {"input_ids": ids.contiguous()}
    tensors.update({k: v.to(torch.float32).contiguous() for k, v in o32.items()})
    save_file(tensors, out_path, metadata=meta)
    return model, diffs


# --------------------------------------------------------------------------------------------------- main


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--bpe-gz", default=os.environ.get("CLIP_BPE_GZ", "/tmp/clip_vocab/bpe_simple_vocab_16e6.txt.gz"))
    ap.add_argument("--full-dir", default="/tmp/clip_vocab", help="where the full vocab and ids go (not committed)")
    ap.add_argument("--out", default=os.path.join(REPO, "tests", "data", "text"))
    ap.add_argument("--small-merges", type=int, default=N_MERGES_SMALL)
    args = ap.parse_args()
    torch.set_num_threads(1)
    if not os.path.isfile(args.bpe_gz):
        sys.exit(f"missing {args.bpe_gz}: take clip/bpe_simple_vocab_16e6.txt.gz from github.com/openai/CLIP")

    merges = read_merges(args.bpe_gz)
    full_vocab = write_vocab(args.full_dir, merges)
    assert len(full_vocab) == 49408 and full_vocab[BOS] == 49406 and full_vocab[EOS] == 49407
    small_dir = os.path.join(args.out, "clip_small")
    small_vocab = write_vocab(small_dir, merges[:args.small_merges])
    n_small = 512 + args.small_merges + 2
    assert len(small_vocab) == n_small and small_vocab[BOS] == n_small - 2 and small_vocab[EOS] == n_small - 1

    prompts = make_prompts()
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, "prompts.json"), "w", encoding="utf-8") as f:
        json.dump(prompts, f, ensure_ascii=False, indent=0)
        f.write("\n")
    with open(os.path.join(args.out, "prompts.json"), encoding="utf-8") as f:
        assert json.load(f) == prompts

    results = {}
    for name, dir_, path in (("small", small_dir, os.path.join(args.out, "clip_small_ids.safetensors")),
                             ("full", args.full_dir, os.path.join(args.full_dir, "clip_full_ids.safetensors"))):
        tok = load_tokenizer(dir_)
        t = encode(tok, prompts)
        meta = tokenizer_meta(tok)
        meta["vocab"] = name
        meta["n_prompts"] = str(len(prompts))
        # int16 keeps the committed small-vocabulary file small (ids < 6,514); the full one is int32.
        save_file({k: v.to(torch.int16 if name == "small" else torch.int32).contiguous() for k, v in t.items()}, path,
                  metadata=meta)
        results[name] = (tok, t)
        print(f"{name}: {len(tok)} ids, class {meta['tokenizer_class']}, pad {tok.pad_token_id}, "
              f"truncated {(t['ntokens_untruncated'] > MAX_LEN - 2).sum().item()} of {len(prompts)} -> {path}")

    tok, t = results["small"]
    ids = t["input_ids"][:4].clone()
    _, diffs = model_fixture(len(small_vocab), small_vocab[BOS], small_vocab[EOS], ids,
                             os.path.join(args.out, "clip_text_tiny.safetensors"))
    print("float32 vs float64:", json.dumps(diffs, indent=1))
    print("rows 0..3 lengths:", t["lengths"][:4].tolist())


if __name__ == "__main__":
    main()
