"""Long chain-of-thought traces for domains the shipped real data has no reasoning traces for
(code, science, puzzle), HANDMADE for these tests: each has a thought block of well over 256
tokens with self-verification, then a worked solution section. Code traces carry stdin/stdout
tests their programs pass (`verdict_code: pass`); science/puzzle traces a reference answer
(`verdict_math: correct`). Used by tests/test_curate.py and tests/test_recipe_shapes.py.
"""

from __future__ import annotations

from typing import Any

from factory.schemas.ids import problem_id, trace_id

_CODE = [
    (
        "Read an integer n (1 <= n <= 10^18) and print the sum of its decimal digits.",
        ["12345", "9", "1000000000000000000"], ["15", "9", "1"],
        "The input is a single integer n, and it can be as large as 10^18, so I should not assume it fits in a "
        "32-bit type; in Python that is not an issue anyway.\n\n"
        "The sum of the decimal digits: I could repeatedly take n % 10 and divide by 10, or I could just treat the "
        "input as a string and add up int(c) for each character c. The string approach avoids any arithmetic on "
        "huge numbers and is obviously correct.\n\n"
        "Wait, I should check whether the input might have a trailing newline or spaces. input() strips the "
        "newline, but to be safe I will call strip() as well, otherwise int('\\n') would raise an error.\n\n"
        "Let me verify on the examples. For 12345 the digits are 1, 2, 3, 4 and 5, and 1 + 2 + 3 + 4 + 5 = 15, "
        "which matches. For 9 the answer is 9. For 10^18 the string is a 1 followed by eighteen zeros, so the sum "
        "is 1. All three agree.\n\n"
        "What about n = 0? The constraints say n >= 1, so it cannot happen, but the string approach would give 0, "
        "which would also be right.\n\n"
        "The complexity is linear in the number of digits, at most 19 here, so there is no performance concern. "
        "I am confident in the string-based solution.",
        ["print(sum(int(c) for c in input().strip()))",
         "n = int(input())\ns = 0\nwhile n > 0:\n    s += n % 10\n    n //= 10\nprint(s)",
         "s = input().strip()\nprint(sum(map(int, s)))",
         "total = 0\nfor ch in input().strip():\n    total += ord(ch) - ord('0')\nprint(total)"],
    ),
    (
        "Read a line of lowercase letters and spaces and print how many vowels (a, e, i, o, u) it contains.",
        ["hello world", "rhythm", "aeiou aeiou"], ["3", "0", "10"],
        "I need to count the vowels a, e, i, o and u in one line of text made of lowercase letters and spaces.\n\n"
        "The straightforward way is to loop over the characters and count those that belong to the set of vowels. "
        "A set lookup is constant time, so the whole thing is linear in the length of the line.\n\n"
        "Wait, is y a vowel here? The statement lists exactly a, e, i, o and u, so y does not count. That matters "
        "for the second example, rhythm, which has no vowels from that list, and the expected output is 0, which "
        "confirms the reading.\n\n"
        "Spaces are not vowels, so they are simply skipped by the membership test. I should not strip internal "
        "spaces, but stripping the trailing newline is harmless.\n\n"
        "Let me check the first example: hello world has e, o and o, so 3. The third example, aeiou aeiou, has "
        "five vowels in each word, so 10. Both match.\n\n"
        "An empty line would give 0, which is sensible. Uppercase letters cannot appear, since the statement "
        "promises lowercase letters only, so I do not need to lower-case the input first; if that promise were "
        "broken the count would simply miss capital vowels.\n\n"
        "The solution is a one-line generator expression summed, and I have double-checked it against every "
        "example.",
        ["print(sum(c in 'aeiou' for c in input()))",
         "line = input()\nprint(len([c for c in line if c in set('aeiou')]))",
         "s = input()\ncount = 0\nfor c in s:\n    if c in 'aeiou':\n        count += 1\nprint(count)",
         "import re\nprint(len(re.findall('[aeiou]', input())))"],
    ),
    (
        "Read n and then n integers on the next line; print the largest sum of a contiguous non-empty subarray.",
        ["5\n-2 1 -3 4 5", "3\n-5 -1 -7", "4\n1 2 3 4"], ["9", "-1", "10"],
        "This is the maximum subarray problem. The classic linear-time method is Kadane's algorithm: keep the best "
        "sum of a subarray ending at the current position, and the best sum seen so far.\n\n"
        "At each element x, the best subarray ending here is either x alone or x appended to the best subarray "
        "ending at the previous position, so cur = max(x, cur + x), and then best = max(best, cur).\n\n"
        "Wait, the subarray must be non-empty. If every number is negative, the answer is the largest single "
        "number, not 0. So I must initialise best with the first element rather than with 0. The second example, "
        "-5 -1 -7, checks exactly this: the answer is -1.\n\n"
        "Let me trace the first example: -2, 1, -3, 4, 5. cur goes -2, 1, -2, 4, 9 and best goes -2, 1, 1, 4, 9, "
        "so the answer is 9, which matches. For 1 2 3 4 the whole array is best, 10.\n\n"
        "Could a brute force over all pairs of endpoints be simpler? It would be O(n^2) sums, too slow for large "
        "n, and it is easy to get the prefix sums off by one; Kadane's update is both shorter and faster.\n\n"
        "The input has n on the first line and the numbers on the second, so I read two lines. The algorithm is "
        "O(n) time and O(1) extra memory, fine for any reasonable n. I have verified all three examples.",
        ["n = int(input())\na = list(map(int, input().split()))\nbest = cur = a[0]\nfor x in a[1:]:\n"
         "    cur = max(x, cur + x)\n    best = max(best, cur)\nprint(best)",
         "input()\na = [int(t) for t in input().split()]\nbest, cur = a[0], 0\nfor x in a:\n"
         "    cur = max(x, cur + x)\n    best = max(best, cur)\nprint(best)",
         "n = int(input())\na = list(map(int, input().split()))\nans = a[0]\ns = 0\nfor x in a:\n    s += x\n"
         "    ans = max(ans, s)\n    if s < 0:\n        s = 0\nprint(ans)",
         "input()\nvals = list(map(int, input().split()))\ncur = best = vals[0]\nfor v in vals[1:]:\n"
         "    cur = v if cur < 0 else cur + v\n    best = max(best, cur)\nprint(best)"],
    ),
    (
        "Read a line of words separated by single spaces and print the words in reverse order, separated by single spaces.",
        ["the sky is blue", "hello", "a b c d"], ["blue is sky the", "hello", "d c b a"],
        "I need to reverse the order of the words in a line, not the characters inside each word. The words are "
        "separated by single spaces, so split() gives me the list of words directly.\n\n"
        "Reversing a Python list is easy: words[::-1] makes a reversed copy, and ' '.join(...) puts the single "
        "spaces back between them.\n\n"
        "Wait, what if the line had leading or trailing spaces? The statement says words are separated by single "
        "spaces, so there should be none, but split() without an argument would drop them anyway, which is the "
        "safe behaviour. If I used split(' ') instead, leading spaces would produce empty strings and the output "
        "would get extra spaces, so plain split() is the better choice.\n\n"
        "Let me check the examples. 'the sky is blue' splits into four words; reversed they read blue, is, sky, "
        "the, which joined gives 'blue is sky the'. A single word stays as it is. 'a b c d' becomes 'd c b a'. "
        "All three match.\n\n"
        "The work is linear in the length of the line. I am confident the split, reverse and join approach is "
        "correct, and it prints exactly one line as required.",
        ["print(' '.join(input().split()[::-1]))",
         "words = input().split()\nwords.reverse()\nprint(' '.join(words))",
         "w = input().split()\nprint(' '.join(reversed(w)))",
         "w = input().split()\nout = []\nwhile w:\n    out.append(w.pop())\nprint(' '.join(out))"],
    ),
    (
        "Read an integer n (1 <= n <= 10^6) and print YES if n is a perfect square and NO otherwise.",
        ["16", "15", "1"], ["YES", "NO", "YES"],
        "A perfect square is k * k for some integer k. The simplest test is to take the integer square root r "
        "of n and check whether r * r == n.\n\n"
        "I should avoid floating point: int(n ** 0.5) can be off by one for large numbers because of rounding. "
        "For n up to 10^6 it would actually be fine, but math.isqrt gives the exact integer square root and is "
        "just as simple, so I will use it.\n\n"
        "Wait, let me make sure about n = 1: isqrt(1) = 1 and 1 * 1 = 1, so the answer is YES, matching the third "
        "example. For 16, isqrt is 4 and 4 * 4 = 16, so YES. For 15, isqrt is 3 and 3 * 3 = 9, which is not 15, "
        "so NO. All examples agree.\n\n"
        "Another way would be to loop k from 1 while k * k <= n, which is at most 1000 iterations for n = 10^6, "
        "also fast enough, and it gives the same verdicts; I will keep it as an alternative.\n\n"
        "The output must be the exact words YES or NO in capitals, so I print those literal strings; a lower-case "
        "yes would be judged wrong by an exact comparison. Reading the input with int() also tolerates the "
        "trailing newline, so no extra stripping is needed.",
        ["import math\nn = int(input())\nr = math.isqrt(n)\nprint('YES' if r * r == n else 'NO')",
         "n = int(input())\nk = 1\nwhile k * k < n:\n    k += 1\nprint('YES' if k * k == n else 'NO')",
         "from math import isqrt\nn = int(input())\nprint('YES' if isqrt(n) ** 2 == n else 'NO')",
         "n = int(input())\nprint('YES' if any(k * k == n for k in range(1, 1001)) else 'NO')"],
    ),
]

_SCIENCE = [
    ("science", "A ball is dropped from rest from a height of 20 m. Taking g = 10 m/s^2 and ignoring air "
                "resistance, how many seconds does it take to reach the ground?", "2",
     "The ball starts from rest, so its initial velocity is zero, and it falls under constant acceleration g.\n\n"
     "The distance fallen after time t is h = (1/2) g t^2. Setting h = 20 m and g = 10 m/s^2 gives "
     "20 = 5 t^2, so t^2 = 4.\n\n"
     "Wait, I should make sure I take the positive root: t = 2 s, since a negative time has no meaning here.\n\n"
     "Let me double-check with the velocity: after 2 s the speed is g t = 20 m/s, and the average speed over the "
     "fall is 10 m/s, so the distance is 10 m/s times 2 s = 20 m, which matches the height.\n\n"
     "I could also check with energy: m g h = (1/2) m v^2 gives v^2 = 2 g h = 400, so v = 20 m/s at the ground, "
     "and the time to reach that speed from rest at 10 m/s^2 is again 2 s. Two independent routes agree.\n\n"
     "Air resistance is ignored, so there is no other force to account for. The mass of the ball does not "
     "appear anywhere, which is consistent with free fall: every object falls with the same acceleration in a "
     "vacuum.\n\n"
     "One more sanity check on the units: h / g has units of m / (m/s^2) = s^2, so sqrt(2h/g) is in seconds, "
     "and sqrt(2 * 20 / 10) = sqrt(4) = 2. The answer is 2 seconds.",
     "Using $h = \\tfrac12 g t^2$ with $h = 20$ m and $g = 10$ m/s$^2$: $20 = 5t^2$, so $t^2 = 4$ and, taking the "
     "positive root, the ball lands after $\\boxed{2}$ seconds."),
    ("puzzle", "Three boxes are labelled 'apples', 'oranges' and 'mixed', and every label is wrong. You may take "
               "one fruit from one box without looking inside. From how many boxes must you take a fruit to "
               "label all three correctly?", "1",
     "Every label is wrong, which is a strong constraint. Let me think about which box to sample.\n\n"
     "If I take a fruit from the box labelled 'mixed', that box cannot be mixed, so it contains only the kind "
     "of fruit I drew. Suppose I draw an apple: that box is the apples box.\n\n"
     "Then the box labelled 'oranges' cannot hold oranges, and apples are taken, so it must be the mixed box. "
     "The remaining box, labelled 'apples', must be the oranges box.\n\n"
     "Wait, let me check the other case: if I draw an orange from the 'mixed' box, the same argument with the "
     "roles swapped labels everything. So one draw always suffices.\n\n"
     "Why not sample the box labelled 'apples' instead? If I draw an apple there, that box must be mixed, but "
     "I still could not tell which of the other two holds apples and which oranges with certainty... actually "
     "I could not, because the mixed box might have given an apple by chance. So the 'mixed' box is the only "
     "informative choice.\n\n"
     "Could zero draws work? No: without any information both consistent arrangements remain possible. So the "
     "answer is 1.",
     "Take one fruit from the box labelled 'mixed': it holds only that fruit. The box labelled with the other "
     "fruit must then be mixed, and the last box is the remaining fruit. One draw suffices, so the answer is "
     "$\\boxed{1}$."),
]


def handmade_long_code_rows() -> list[dict[str, Any]]:
    """5 stdin/stdout problems x 4 verified programs, each after a long thought."""
    rows = []
    for q, ins, outs, thought, programs in _CODE:
        tests = {"style": "stdin_stdout", "fn_name": None, "inputs": ins, "outputs": outs, "asserts": [],
                 "setup_code": None, "starter_code": None, "time_limit_s": None}
        pid = problem_id("code", q, None, tests)
        for i, prog in enumerate(programs):
            answer = ("The program reads the input exactly as the statement describes, computes the result in "
                      "a single pass over the data, and prints it; every example was checked above.\n\n"
                      f"```python\n{prog}\n```")
            text = f"<think>\n{thought}\n</think>\n\n{answer}"
            rows.append({
                "id": trace_id(pid, i, "handmade-reasoner", text), "problem_id": pid, "sample_index": i,
                "teacher": "handmade-reasoner", "backend": "replay", "sampling": None, "system_prompt": None,
                "prompt": q, "completion": text, "reasoning": thought, "reasoning_finished": True, "answer": answer,
                "finish_reason": "stop", "prompt_tokens": None, "completion_tokens": None, "domain": "code",
                "source": "handmade", "problem": q, "reference_answer": None, "tests": tests, "difficulty": None,
                "level": None, "language": "en", "license": "Apache-2.0", "meta": None, "verdict_code": "pass",
            })
    return rows


def handmade_long_science_rows() -> list[dict[str, Any]]:
    rows = []
    for domain, q, gold, thought, answer in _SCIENCE:
        pid = problem_id(domain, q, gold, None)
        text = f"<think>\n{thought}\n</think>\n\n{answer}"
        rows.append({
            "id": trace_id(pid, 0, "handmade-reasoner", text), "problem_id": pid, "sample_index": 0,
            "teacher": "handmade-reasoner", "backend": "replay", "sampling": None, "system_prompt": None, "prompt": q,
            "completion": text, "reasoning": thought, "reasoning_finished": True, "answer": answer,
            "finish_reason": "stop", "prompt_tokens": None, "completion_tokens": None, "domain": domain,
            "source": "handmade", "problem": q, "reference_answer": gold, "tests": None, "difficulty": None,
            "level": None, "language": "en", "license": "Apache-2.0", "meta": None, "verdict_math": "correct",
        })
    return rows
