// The paper's executor rules, on hand-written right and wrong programs for real MTPB problems (expected values
// from the shared mtpb.jsonl, as Python wrote them): numbers, floats, bools, lists of tuples, numpy and pandas
// values, a last expression without print.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { loadMtpbProblems, defaultMtpbData } from '../../src/eval/mtpb';
import { runProgram } from '../../src/eval/sandbox';
import { NO_PYTHON, PYTHON, sandboxOptions } from './helpers';

interface Case {
  readonly problem: string;
  readonly program: string;
  readonly passes: boolean;
  readonly why: string;
}

const HEADER = '# Import libraries.\n\nimport numpy as np\n\n';
const CASES: Case[] = [
  // 37 "Sum neg", input 0: [-1, -2, 0, 1, 5] -> -3 (int)
  { problem: '37', passes: true, why: 'int printed', program: `${HEADER}lst1 = [-1, -2, 0, 1, 5]\nlst2 = [x for x in lst1 if x < 0]\nprint(sum(lst2))\n` },
  { problem: '37', passes: false, why: 'wrong int', program: `${HEADER}lst1 = [-1, -2, 0, 1, 5]\nprint(sum(lst1))\n` },
  { problem: '37', passes: true, why: 'last expression without print is printed', program: `${HEADER}lst1 = [-1, -2, 0, 1, 5]\nsum(x for x in lst1 if x < 0)\n` },
  { problem: '37', passes: true, why: 'numpy int64 becomes int', program: `${HEADER}a = np.array([-1, -2, 0, 1, 5])\nprint(a[a < 0].sum())\n` },
  { problem: '37', passes: true, why: 'pandas sum (numpy scalar)', program: `import pandas as pd\ns = pd.Series([-1, -2, 0, 1, 5])\nprint(s[s < 0].sum())\n` },
  { problem: '37', passes: true, why: 'a string is cast to the expected int', program: `print("-3")\n` },
  { problem: '37', passes: false, why: 'only the LAST print counts', program: `print(-3)\nprint("done")\n` },
  { problem: '37', passes: true, why: 'the first argument of the last print counts', program: `print(-3, "is the sum")\n` },
  { problem: '37', passes: true, why: 'an exception after the last print does not matter (as in the paper)', program: `print(-3)\nraise ValueError("late")\n` },
  { problem: '37', passes: false, why: 'nothing printed', program: `x = undefined_name\n` },
  { problem: '37', passes: true, why: 'the paper wraps an assignment that ends the program too', program: `total = -3\n` },
  // 75 "Cosine sim", input 0 -> 0.9832301408945487 (float)
  { problem: '75', passes: true, why: 'numpy float64 within 1e-6', program: `${HEADER}v1 = np.array([0.3, 1.0, 2.0]); v2 = np.array([1.0, 2.0, 3.0])\nv1 = v1 / np.linalg.norm(v1); v2 = v2 / np.linalg.norm(v2)\nprint(np.dot(v1, v2))\n` },
  { problem: '75', passes: true, why: 'float within 1e-6', program: `print(0.9832305)\n` },
  { problem: '75', passes: false, why: 'float off by more than 1e-6', program: `print(0.9832)\n` },
  // 33 "Sum polygon angles", input 0 -> 3.14
  { problem: '33', passes: true, why: 'float from a string', program: `print("3.14")\n` },
  { problem: '33', passes: false, why: 'degrees, not radians', program: `print(180)\n` },
  // 79 "Coefficient of variation", input 0 -> 0.0 (float; an int 0 is cast)
  { problem: '79', passes: true, why: 'int cast to float', program: `print(0)\n` },
  // 44 "Create Palindrome", input 0 -> False (bool: compared as strings)
  { problem: '44', passes: true, why: 'bool', program: `print(False)\n` },
  { problem: '44', passes: true, why: "bool compared as a string: 'False'", program: `print('False')\n` },
  { problem: '44', passes: true, why: 'numpy bool', program: `${HEADER}print(np.bool_(False))\n` },
  { problem: '44', passes: false, why: "0 is not 'False'", program: `print(0)\n` },
  { problem: '44', passes: false, why: 'wrong bool', program: `print(True)\n` },
  // 8 "Bi-grams", input 0 -> list of [word, word] lists; tuples are turned into lists
  {
    problem: '8',
    passes: true,
    why: 'list of tuples',
    program: `def bigrams(s):\n    w = s.split()\n    return list(zip(w, w[1:]))\nsentence = "Have free hours and love children? Drive kids to school, soccer practice and other activities."\nprint(bigrams(sentence))\n`,
  },
  { problem: '8', passes: false, why: 'words, not pairs', program: `print("Have free hours".split())\n` },
  // 56 "Merge sorted lists", input 0 -> [1, 2, 2, 2, 3, 4]
  { problem: '56', passes: true, why: 'numpy array becomes a list', program: `${HEADER}print(np.sort(np.array([1, 2, 2, 2] + [3, 4])))\n` },
  { problem: '56', passes: true, why: 'pandas Series compared like an array (the paper: allclose)', program: `import pandas as pd\nprint(pd.Series([1, 2, 2, 2, 3, 4]))\n` },
  { problem: '56', passes: false, why: 'pandas Series with a wrong value', program: `import pandas as pd\nprint(pd.Series([1, 2, 2, 2, 3, 5]))\n` },
  { problem: '56', passes: false, why: 'unsorted', program: `print([1, 2, 2, 2] + [4, 3])\n` },
  // 2 "Normalize integer list", input 0 -> list of str
  {
    problem: '2',
    passes: true,
    why: 'list of formatted strings',
    program: `numbers = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]\ntotal = sum(numbers)\nnormalized = [x / total * 100 for x in numbers]\nformatted = ["%.1f" % x for x in normalized]\nprint(formatted)\n`,
  },
  { problem: '2', passes: false, why: 'floats are not the strings', program: `print([1.8, 3.6])\n` },
  // 89 "Group by key" -> a dict: the paper's executor has no rule for dicts, so it can never pass
  { problem: '89', passes: false, why: "dicts are not comparable by the paper's executor", program: `print({'1': ['a', 'b', 'c']})\n` },
];

test('the executor scores right and wrong programs of several MTPB problems like the paper', { skip: NO_PYTHON }, async () => {
  const problems = new Map(loadMtpbProblems(PYTHON!, defaultMtpbData()!).map((p) => [p.id, p]));
  const options = await sandboxOptions();
  const results = await Promise.all(
    CASES.map((c) => runProgram({ kind: 'mtpb', program: c.program, goldJson: problems.get(c.problem)!.goldJson[0] }, options)),
  );
  const wrong = CASES.map((c, i) => ({ c, r: results[i] }))
    .filter(({ c, r }) => c.passes !== r.passed)
    .map(({ c, r }) => `problem ${c.problem} (${c.why}): expected ${c.passes ? 'pass' : 'fail'}, printed ${r.printed}, error ${r.error}`);
  assert.deepEqual(wrong, []);
});

test('the printed value, the error and the program output are reported', { skip: NO_PYTHON }, async () => {
  const options = await sandboxOptions();
  const r = await runProgram({ kind: 'mtpb', program: 'print("hello")\nx = [1, 2]\nx\n', goldJson: '[1, 2]' }, options);
  assert.equal(r.passed, true);
  assert.equal(r.printed, '[1, 2]');
  assert.equal(r.stdout, 'hello\n[1, 2]\n');
  const bad = await runProgram({ kind: 'mtpb', program: 'def f(:\n', goldJson: '1' }, options);
  assert.equal(bad.passed, false);
  assert.match(bad.error ?? '', /SyntaxError/);
});

test('template filling keeps Python formatting and value types (3.0 stays a float)', { skip: NO_PYTHON }, () => {
  const problems = new Map(loadMtpbProblems(PYTHON!, defaultMtpbData()!).map((p) => [p.id, p]));
  assert.equal(problems.size, 115);
  const p2 = problems.get('2')!;
  assert.equal(p2.prompts.length, 5);
  assert.equal(p2.prompts[0][0], 'Define a list of integers named "numbers" with the values [1, 2, 3, 4, 5, 6, 7, 8, 9, 10].');
  assert.equal(p2.maxGenLength, 128);
  assert.equal(problems.get('75')!.inputsJson[0], '{"lst1": [0.3, 1.0, 2.0], "lst2": [1.0, 2.0, 3.0]}');
});
