"""Notebook 01's exercises: the reference solutions pass, legitimate variants pass, and known wrong answers
fail with the mistake named (the block checker's catalogue of wrong blocks is here)."""

import ast
import contextlib
import io
import re
import time

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from resblock.blocks import PlainBlock, PreActBlock, ResidualBlock
from resblock.exercises import block_checker
from resblock.exercises import nb01 as ex


def _assert_mistake(question, answer, message):
    """The answer is judged wrong, and the feedback contains the words that name its mistake."""
    status, text = question.feedback(answer)
    assert status == "incorrect", (status, text)
    assert message in text, text


def _code(solution_text: str) -> str:
    return "\n".join(re.findall(r"```python\n(.*?)```", solution_text, flags=re.DOTALL))


def _exec_solution(question, extra=None) -> dict:
    """Run the code a question's solution() shows, as a learner would paste it."""
    text = question._text(question._solution)
    namespace = {"torch": torch, "nn": nn, "F": F, "ResidualBlock": ResidualBlock, **(extra or {})}
    exec(_code(text), namespace)
    return namespace


# --- the reference answers pass -----------------------------------------------------------------------


def test_package_block_passes_the_block_question():
    assert ex.q2.feedback(ResidualBlock)[0] == "correct"
    assert ex.q2.feedback(ResidualBlock) == ("correct", ex.check_basic_block(ResidualBlock))


def test_solution_q2_passes():
    ns = _exec_solution(ex.q2)
    assert ex.q2.check(ns["MyResidualBlock"]) is True


def test_solution_q3_passes():
    ns = _exec_solution(ex.q3)
    assert ex.q3.feedback(ns["my_needs_projection"])[0] == "correct"


def test_q4_q5_right_answers_are_the_real_block_measured():
    block = ResidualBlock(16, 32, stride=2)
    shape = tuple(block(torch.zeros(8, 16, 28, 28)).shape)
    assert shape == (8, 32, 14, 14)
    assert ex.q4.feedback(shape)[0] == "correct" and ex.q4.feedback(torch.Size(shape))[0] == "correct"
    n = sum(p.numel() for p in block.parameters())
    # direct count: two 3x3 convs, a 1x1 projection, three BNs with gamma and beta
    assert n == 16 * 32 * 9 + 32 * 32 * 9 + 16 * 32 + 3 * 2 * 32
    assert ex.q5.feedback(n)[0] == "correct"


@pytest.mark.parametrize("question", [ex.q4, ex.q5], ids=["q4", "q5"])
def test_shown_solution_code_computes_the_answer(question):
    """The solution's code, pasted as a learner would: its last line's value is the answer its check accepts."""
    *body, last = _code(question._text(question._solution)).strip().splitlines()
    namespace = _exec_solution_lines("\n".join(body))
    answer = eval(last.split("#")[0], namespace)
    assert question.feedback(answer)[0] == "correct", answer


def test_shown_solution_code_prints_the_answer_for_q1():
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        _exec_solution(ex.q1)
    plain, residual = (tuple(ast.literal_eval(line)) for line in out.getvalue().split("\n") if line)
    assert residual == (0.0, 0.5, 2.0) and ex.q1.feedback((plain, residual))[0] == "correct"


def _exec_solution_lines(code: str) -> dict:
    namespace = {"torch": torch, "nn": nn, "F": F, "ResidualBlock": ResidualBlock}
    exec(code, namespace)
    return namespace


def reuses_name_for_shortcut_input(self, x):
    out = F.relu(self.bn1(self.conv1(x)))
    return F.relu(self.bn2(self.conv2(out)) + self.shortcut(out))


def test_shortcut_on_intermediate_is_named():
    _assert_mistake(ex.q2, _forward(reuses_name_for_shortcut_input), "applied to an intermediate result")


@pytest.mark.parametrize("question", ex.QUESTIONS, ids=lambda q: q.name)
def test_every_question_has_prompt_hint_and_solution(question, capsys):
    assert question.prompt.strip()
    question.hint()
    question.solution()
    out = capsys.readouterr().out
    assert out.count("[Hint]") == 1 and out.count("[Solution]") == 1


@pytest.mark.parametrize("question", ex.QUESTIONS, ids=lambda q: q.name)
@pytest.mark.parametrize("placeholder", [None, ...])
def test_placeholders_are_not_yet_answered(question, placeholder):
    assert question.feedback(placeholder)[0] == "todo"


# --- the notebook's placeholders fail politely -----------------------------------------------------------


class PlaceholderForward(ResidualBlock):
    def forward(self, x):
        raise NotImplementedError("write forward")


class EllipsisForward(ResidualBlock):
    def forward(self, x):
        return ...


class PlaceholderBlock(nn.Module):
    def __init__(self, in_planes, planes, stride=1):
        super().__init__()
        raise NotImplementedError("build the layers")

    def forward(self, x):
        raise NotImplementedError


def placeholder_predicate(in_planes, planes, stride):
    return ...


@pytest.mark.parametrize(
    "question, answer",
    [
        (ex.q2, PlaceholderForward),
        (ex.q2, EllipsisForward),
        (ex.q2, PlaceholderBlock),
        (ex.q3, placeholder_predicate),
        (ex.q1, (..., ...)),
        (ex.q6, {"identity": ..., "projection": ...}),
        (ex.q4, (..., ..., ..., ...)),
    ],
)
def test_notebook_placeholders_say_not_yet(question, answer):
    assert question.feedback(answer)[0] == "todo"
    assert question.check(answer) is False


# --- wrong blocks: each fails with its mistake named -----------------------------------------------------


def _forward(fn):
    """A block with the package's __init__ and a given (wrong) forward."""
    return type(fn.__name__, (ResidualBlock,), {"forward": fn})


def missing_shortcut(self, x):
    return F.relu(self.bn2(self.conv2(F.relu(self.bn1(self.conv1(x))))))


def relu_before_add(self, x):
    return F.relu(self.bn2(self.conv2(F.relu(self.bn1(self.conv1(x)))))) + self.shortcut(x)


def extra_relu_on_branch(self, x):
    return F.relu(F.relu(self.bn2(self.conv2(F.relu(self.bn1(self.conv1(x)))))) + self.shortcut(x))


def no_final_relu(self, x):
    return self.bn2(self.conv2(F.relu(self.bn1(self.conv1(x))))) + self.shortcut(x)


def no_middle_relu(self, x):
    return F.relu(self.bn2(self.conv2(self.bn1(self.conv1(x)))) + self.shortcut(x))


def relu_before_bn(self, x):
    return F.relu(self.bn2(self.conv2(self.bn1(F.relu(self.conv1(x))))) + self.shortcut(x))


def adds_x_not_shortcut(self, x):
    return F.relu(self.bn2(self.conv2(F.relu(self.bn1(self.conv1(x))))) + x)


def reuses_name_x(self, x):
    x = F.relu(self.bn1(self.conv1(x)))
    x = self.bn2(self.conv2(x))
    return F.relu(x + self.shortcut(x))


def inplace_on_identity(self, x):
    out = self.shortcut(x)  # nn.Identity returns x itself
    out += self.bn2(self.conv2(F.relu(self.bn1(self.conv1(x)))))
    return F.relu(out)


def inplace_relu_on_input(self, x):
    x = F.relu(x, inplace=True)
    return F.relu(self.bn2(self.conv2(F.relu(self.bn1(self.conv1(x))))) + self.shortcut(x))


def detached_shortcut(self, x):
    return F.relu(self.bn2(self.conv2(F.relu(self.bn1(self.conv1(x))))) + self.shortcut(x.detach()))


def forgets_return(self, x):
    out = F.relu(self.bn2(self.conv2(F.relu(self.bn1(self.conv1(x))))) + self.shortcut(x))  # noqa: F841


def skips_bn1(self, x):
    return F.relu(self.bn2(self.conv2(F.relu(self.conv1(x)))) + self.shortcut(x))


def bn1_twice(self, x):
    return F.relu(self.bn1(self.conv2(F.relu(self.bn1(self.conv1(x))))) + self.shortcut(x))


def ignores_branch(self, x):
    self.bn2(self.conv2(F.relu(self.bn1(self.conv1(x)))))
    return F.relu(self.shortcut(x))


def subtracts_input(self, x):
    return F.relu(self.bn2(self.conv2(F.relu(self.bn1(self.conv1(x))))) - self.shortcut(x))


def raises_type_error(self, x):
    return self.conv1(x, x)


WRONG_FORWARDS = [
    (missing_shortcut, "missing shortcut"),
    (relu_before_add, "ReLU before the add instead of after"),
    (extra_relu_on_branch, "extra ReLU on the residual branch"),
    (no_final_relu, "no ReLU after the addition"),
    (no_middle_relu, "no ReLU between the two convolutions"),
    (relu_before_bn, "ReLU before BN"),
    (adds_x_not_shortcut, "you probably add `x` itself"),
    (reuses_name_x, "applied to an intermediate result"),
    (inplace_on_identity, "changed its input tensor in place"),
    (inplace_relu_on_input, "changed its input tensor in place"),
    (detached_shortcut, "no gradient flows back to the input"),
    (forgets_return, "forget `return`"),
    (skips_bn1, "`self.bn1` is never used"),
    (bn1_twice, "`self.bn1` is called 2 times"),
    (ignores_branch, "ignores the residual branch"),
    (subtracts_input, "you subtract the shortcut"),
    (raises_type_error, "Your code raised TypeError"),
]


@pytest.mark.parametrize("forward, message", WRONG_FORWARDS, ids=[f.__name__ for f, _ in WRONG_FORWARDS])
def test_wrong_forward_is_named(forward, message):
    _assert_mistake(ex.q2, _forward(forward), message)


def test_wrong_forward_does_not_disturb_the_callers_random_stream():
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    ex.q2.feedback(_forward(missing_shortcut))
    assert torch.equal(torch.rand(3), expected)


# --- wrong __init__s (q2): each fails with its mistake named ---------------------------------------------


def _good_forward(self, x):
    return F.relu(self.bn2(self.conv2(F.relu(self.bn1(self.conv1(x))))) + self.shortcut(x))


def _block(init, forward=_good_forward, name="Block"):
    return type(name, (nn.Module,), {"__init__": init, "forward": forward})


def _layers(self, in_planes, planes, stride, conv1_stride=None, conv2_stride=1, padding=1, bn_planes=None):
    self.conv1 = nn.Conv2d(
        in_planes, planes, 3, stride=stride if conv1_stride is None else conv1_stride, padding=padding, bias=False
    )
    self.bn1 = nn.BatchNorm2d(bn_planes or planes)
    self.conv2 = nn.Conv2d(planes, planes, 3, stride=conv2_stride, padding=padding, bias=False)
    self.bn2 = nn.BatchNorm2d(bn_planes or planes)


def _projection(in_planes, planes, stride, bn=True, kernel=1):
    layers = [nn.Conv2d(in_planes, planes, kernel, stride=stride, padding=kernel // 2, bias=False)]
    return nn.Sequential(*layers, *([nn.BatchNorm2d(planes)] if bn else []))


def init_forgets_super(self, in_planes, planes, stride=1):
    _layers(self, in_planes, planes, stride)


# The seed's bug verbatim, compiled where no class BasicBlock exists (as in the seed's own file).
_seed_namespace: dict = {}
exec("def init_seed_super(self, in_planes, planes, stride=1):\n    super(BasicBlock, self).__init__()", _seed_namespace)
init_seed_super = _seed_namespace["init_seed_super"]


class BasicBlock(nn.Module):
    """A class of that name exists in this module, as after `from torchvision.models.resnet import BasicBlock`."""


def init_seed_super_other_class(self, in_planes, planes, stride=1):
    super(BasicBlock, self).__init__()


def init_no_projection(self, in_planes, planes, stride=1):
    nn.Module.__init__(self)
    _layers(self, in_planes, planes, stride)
    self.shortcut = nn.Sequential()


def init_projection_always(self, in_planes, planes, stride=1):
    nn.Module.__init__(self)
    _layers(self, in_planes, planes, stride)
    self.shortcut = _projection(in_planes, planes, stride)


def init_projection_only_on_stride(self, in_planes, planes, stride=1):
    nn.Module.__init__(self)
    _layers(self, in_planes, planes, stride)
    self.shortcut = _projection(in_planes, planes, stride) if stride != 1 else nn.Sequential()


def init_stride_on_conv2(self, in_planes, planes, stride=1):
    nn.Module.__init__(self)
    _layers(self, in_planes, planes, stride, conv1_stride=1, conv2_stride=stride)
    self.shortcut = _projection(in_planes, planes, stride) if stride != 1 or in_planes != planes else nn.Sequential()


def init_shortcut_without_bn(self, in_planes, planes, stride=1):
    nn.Module.__init__(self)
    _layers(self, in_planes, planes, stride)
    self.shortcut = (
        _projection(in_planes, planes, stride, bn=False) if stride != 1 or in_planes != planes else nn.Sequential()
    )


def init_projection_3x3(self, in_planes, planes, stride=1):
    nn.Module.__init__(self)
    _layers(self, in_planes, planes, stride)
    self.shortcut = (
        _projection(in_planes, planes, stride, kernel=3) if stride != 1 or in_planes != planes else nn.Sequential()
    )


def init_projection_without_stride(self, in_planes, planes, stride=1):
    nn.Module.__init__(self)
    _layers(self, in_planes, planes, stride)
    self.shortcut = _projection(in_planes, planes, 1) if stride != 1 or in_planes != planes else nn.Sequential()


def init_no_padding(self, in_planes, planes, stride=1):
    nn.Module.__init__(self)
    _layers(self, in_planes, planes, stride, padding=0)
    self.shortcut = nn.Sequential()


def init_bn_wrong_size(self, in_planes, planes, stride=1):
    nn.Module.__init__(self)
    _layers(self, in_planes, planes, stride, bn_planes=in_planes)
    self.shortcut = _projection(in_planes, planes, stride) if stride != 1 or in_planes != planes else nn.Sequential()


def init_other_names(self, in_planes, planes, stride=1):
    nn.Module.__init__(self)
    self.branch = nn.Sequential(nn.Conv2d(in_planes, planes, 3, stride, 1))
    self.shortcut = nn.Sequential()


def init_shortcut_in_list(self, in_planes, planes, stride=1):
    nn.Module.__init__(self)
    _layers(self, in_planes, planes, stride)
    if stride != 1 or in_planes != planes:
        self.shortcut = [nn.Conv2d(in_planes, planes, 1, stride, bias=False), nn.BatchNorm2d(planes)]
    else:
        self.shortcut = nn.Sequential()


WRONG_INITS = [
    (init_forgets_super, "before calling `super().__init__()`"),
    (init_seed_super, "the seed's bug"),
    (init_seed_super_other_class, "`super(X, self)` names a class that is not this one"),
    (init_no_projection, "projection missing when needed"),
    (init_projection_always, "a projection where none is needed"),
    (init_projection_only_on_stride, "projection missing when needed: at in_planes=8, planes=16, stride=1"),
    (init_stride_on_conv2, "the stride is on conv2 instead of conv1"),
    (init_shortcut_without_bn, "the projection shortcut has no BatchNorm"),
    (init_projection_3x3, "the projection should be one 1x1 conv"),
    (init_projection_without_stride, "the projection should be one 1x1 conv with stride 2"),
    (init_no_padding, "padding=1"),
    (init_bn_wrong_size, "use `nn.BatchNorm2d(planes)`"),
    (init_other_names, "Use the seed's names"),
    (init_shortcut_in_list, "Wrap them: `nn.Sequential(conv, bn)`"),
]


@pytest.mark.parametrize("init, message", WRONG_INITS, ids=[f.__name__ for f, _ in WRONG_INITS])
def test_wrong_init_is_named(init, message):
    _assert_mistake(ex.q2, _block(init), message)


def test_padding_same_at_stride_1_is_padding_1():
    # Keras's habit: for a 3x3 conv at stride 1, padding="same" is padding=1
    def init(self, in_planes, planes, stride=1):
        nn.Module.__init__(self)
        _layers(self, in_planes, planes, stride)
        self.conv2 = nn.Conv2d(planes, planes, 3, padding="same", bias=False)
        needs = stride != 1 or in_planes != planes
        self.shortcut = _projection(in_planes, planes, stride) if needs else nn.Sequential()

    status, message = ex.q2.feedback(_block(init))
    assert status == "correct", message


def test_a_projection_under_another_name_is_named():
    def init(self, in_planes, planes, stride=1):
        nn.Module.__init__(self)
        _layers(self, in_planes, planes, stride)
        needs = stride != 1 or in_planes != planes
        self.skip = _projection(in_planes, planes, stride) if needs else nn.Sequential()

    def forward(self, x):
        return F.relu(self.bn2(self.conv2(F.relu(self.bn1(self.conv1(x))))) + self.skip(x))

    _assert_mistake(ex.q2, _block(init, forward), "your projection seems to be `self.skip`; name it `self.shortcut`")


def test_missing_forward_like_the_seed():
    def init(self, in_planes, planes, stride=1):
        nn.Module.__init__(self)
        _layers(self, in_planes, planes, stride)

    _assert_mistake(ex.q2, type("ResidualBlock", (nn.Module,), {"__init__": init}), "has no `forward` method")


def test_wrong_signature():
    def init(self, channels):
        nn.Module.__init__(self)

    _assert_mistake(ex.q2, _block(init), "(in_planes, planes, stride=1)")


def test_instance_instead_of_class():
    _assert_mistake(ex.q2, ResidualBlock(8, 8), "pass the class itself")


def test_plain_block_is_named_missing_shortcut():
    _assert_mistake(ex.q2, PlainBlock, "missing shortcut")


def test_preactivation_block_is_named():
    _assert_mistake(ex.q2, PreActBlock, "pre-activation block")


# --- q3 to q6: wrong answers named -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "fn, message",
    [
        (lambda i, p, s: s != 1, "you only look at the stride"),
        (lambda i, p, s: i != p, "you only look at the channels"),
        (lambda i, p, s: s != 1 and i != p, "use `or`, not `and`"),
        (lambda i, p, s: s == 1 and i == p, "True and False are swapped"),
        (lambda i, p, s: True, "always True"),
        (lambda i, p, s: False, "always False"),
        (lambda i, p, s: None, "returned None"),
        (lambda i, p, s: "yes", "return True or False"),
        (lambda i, p, s: s != 1 or i > p, "wrong for"),
        (42, "pass a function"),
    ],
)
def test_q3_wrong_predicates(fn, message):
    _assert_mistake(ex.q3, fn, message)


@pytest.mark.parametrize(
    "shape, message",
    [
        ((32, 14, 14), "batch dimension"),
        ((8, 32, 28, 28), "stride is missing"),
        ((8, 16, 14, 14), "channels are not"),
        ((8, 16, 28, 28), "changes channels and stride"),
        ((8, 14, 14, 32), "channels second"),
        ((8, 32, 13, 13), "not 13"),
        ((8, 32, 7, 7), "is not the output shape"),
        ("8x32x14x14", "tuple of 4 whole numbers"),
    ],
)
def test_q4_wrong_shapes(shape, message):
    _assert_mistake(ex.q4, shape, message)


def test_q5_wrong_counts_name_their_mistake():
    right = 16 * 32 * 9 + 32 * 32 * 9 + 16 * 32 + 3 * 2 * 32
    cases = {
        right - (16 * 32 + 2 * 32): "left out the projection",
        right - 3 * 2 * 32: "BatchNorm's parameters",
        right + 3 * 32: "no bias",
        right + 3 * 2 * 32: "buffers",
        right + 3 * 2 * 32 + 3: "the state_dict holds BN's buffers too",  # a step counter per BN as well
        right + 8 * 16 * 32: "1x1 conv, not 3x3",
        right - 32 * 32 * 9 + 16 * 32 * 9: "planes -> planes",
        right - 2 * 32: "not its BatchNorm",
        right + 1: "is not the count",
        14528.5: "whole number",
        True: "whole number",
        "14528": "whole number",
    }
    for answer, message in cases.items():
        _assert_mistake(ex.q5, answer, message)


# --- legitimate ways to write the block: each passes -------------------------------------------------------


def _option_a(in_planes, planes, stride):
    """The paper's option A as a function: subsample by the stride, zero-pad the new channels at the end."""
    return lambda x: F.pad(x[:, :, ::stride, ::stride], (0, 0, 0, 0, 0, planes - in_planes))


class LambdaLayer(nn.Module):
    """The module wrapper that popular CIFAR ResNet code uses for option A."""

    def __init__(self, fn):
        super().__init__()
        self.fn = fn

    def forward(self, x):
        return self.fn(x)


def init_option_a_function(self, in_planes, planes, stride=1):
    nn.Module.__init__(self)
    _layers(self, in_planes, planes, stride)
    self.shortcut = _option_a(in_planes, planes, stride) if stride != 1 or in_planes != planes else (lambda x: x)


def init_option_a_symmetric_module(self, in_planes, planes, stride=1):
    """Option A as in akamaster/pytorch_resnet_cifar10: the zero channels split before and after x's."""
    nn.Module.__init__(self)
    _layers(self, in_planes, planes, stride)
    self.shortcut = nn.Sequential()
    if stride != 1 or in_planes != planes:
        pad = (planes - in_planes) // 2
        self.shortcut = LambdaLayer(
            lambda x: F.pad(x[:, :, ::stride, ::stride], (0, 0, 0, 0, pad, planes - in_planes - pad), "constant", 0)
        )


def init_option_b(self, in_planes, planes, stride=1):
    nn.Module.__init__(self)
    _layers(self, in_planes, planes, stride)
    self.shortcut = _projection(in_planes, planes, stride) if stride != 1 or in_planes != planes else nn.Sequential()


def init_option_a_inline(self, in_planes, planes, stride=1):
    """No shortcut attribute at all: forward pads x itself."""
    nn.Module.__init__(self)
    _layers(self, in_planes, planes, stride)
    self.stride, self.extra = stride, planes - in_planes


def forward_option_a_inline(self, x):
    out = self.bn2(self.conv2(F.relu(self.bn1(self.conv1(x)))))
    shortcut = F.pad(x[:, :, :: self.stride, :: self.stride], (0, 0, 0, 0, 0, self.extra))
    return F.relu(out + shortcut)


def init_torchvision_style(self, in_planes, planes, stride=1):
    """torchvision's BasicBlock: `downsample` (None when not needed), an nn.ReLU(inplace=True) module."""
    nn.Module.__init__(self)
    _layers(self, in_planes, planes, stride)
    self.relu = nn.ReLU(inplace=True)
    self.downsample = _projection(in_planes, planes, stride) if stride != 1 or in_planes != planes else None


def forward_torchvision_style(self, x):
    identity = x
    out = self.relu(self.bn1(self.conv1(x)))
    out = self.bn2(self.conv2(out))
    if self.downsample is not None:
        identity = self.downsample(x)
    out += identity  # in place on `out`, a new tensor: x is untouched
    return self.relu(out)


def init_with_bias(self, in_planes, planes, stride=1):
    nn.Module.__init__(self)
    self.conv1 = nn.Conv2d(in_planes, planes, 3, stride=stride, padding=1, bias=True)
    self.bn1 = nn.BatchNorm2d(planes)
    self.conv2 = nn.Conv2d(planes, planes, 3, stride=1, padding=1, bias=True)
    self.bn2 = nn.BatchNorm2d(planes)
    self.shortcut = _projection(in_planes, planes, stride) if stride != 1 or in_planes != planes else nn.Identity()


def forward_shortcut_first_then_add(self, x):
    shortcut = self.shortcut(x)
    out = F.relu(self.bn1(self.conv1(x)))
    out = self.bn2(self.conv2(out))
    out = out + shortcut
    return nn.functional.relu(out)


def forward_clone_then_inplace(self, x):
    out = self.shortcut(x).clone()
    out += self.bn2(self.conv2(F.relu(self.bn1(self.conv1(x)))))
    return F.relu(out)


LEGITIMATE = [
    (init_option_a_function, _good_forward, "option A"),
    (init_option_a_symmetric_module, _good_forward, "option A"),
    (init_option_a_inline, forward_option_a_inline, "option A"),
    (init_option_b, _good_forward, "matches He et al."),
    (init_torchvision_style, forward_torchvision_style, "matches He et al."),
    (init_with_bias, forward_shortcut_first_then_add, "redundant"),
    (init_option_b, forward_clone_then_inplace, "matches He et al."),
]


@pytest.mark.parametrize(
    "init, forward, words", LEGITIMATE, ids=[f"{i.__name__}+{f.__name__}" for i, f, _ in LEGITIMATE]
)
def test_legitimate_block_passes(init, forward, words):
    status, message = ex.q2.feedback(_block(init, forward))
    assert status == "correct", message
    assert words in message


def test_option_a_feedback_says_how_it_differs_from_option_b():
    message = ex.q2.feedback(_block(init_option_a_function))[1]
    assert "option B" in message and "no parameters" in message


# --- more wrong blocks, from the mistakes learners make ------------------------------------------------------


def shortcut_added_twice(self, x):
    out = self.bn2(self.conv2(F.relu(self.bn1(self.conv1(x))))) + self.shortcut(x)
    out = out + self.shortcut(x)
    return F.relu(out)


def adds_the_module(self, x):
    return F.relu(self.bn2(self.conv2(F.relu(self.bn1(self.conv1(x))))) + self.shortcut)


def subtracts_branch(self, x):
    return F.relu(self.shortcut(x) - self.bn2(self.conv2(F.relu(self.bn1(self.conv1(x))))))


def sigmoid_instead_of_relu(self, x):
    return torch.sigmoid(self.bn2(self.conv2(F.relu(self.bn1(self.conv1(x))))) + self.shortcut(x))


def relu_on_input_first(self, x):
    x = F.relu(x)
    return F.relu(self.bn2(self.conv2(F.relu(self.bn1(self.conv1(x))))) + self.shortcut(x))


def returns_a_tuple(self, x):
    return self.bn2(self.conv2(F.relu(self.bn1(self.conv1(x))))), self.shortcut(x)


def tanh_in_the_middle(self, x):
    return F.relu(self.bn2(self.conv2(torch.tanh(self.bn1(self.conv1(x))))) + self.shortcut(x))


MORE_WRONG_FORWARDS = [
    (shortcut_added_twice, "shortcut added twice"),
    (adds_the_module, "call it on the input"),
    (subtracts_branch, "subtracts R(x)"),
    (sigmoid_instead_of_relu, "something other than ReLU"),
    (relu_on_input_first, "carries relu(x), not x"),
    (returns_a_tuple, "should return a tensor"),
    (tanh_in_the_middle, "look inside R"),
]


@pytest.mark.parametrize("forward, message", MORE_WRONG_FORWARDS, ids=[f.__name__ for f, _ in MORE_WRONG_FORWARDS])
def test_more_wrong_forwards_are_named(forward, message):
    _assert_mistake(ex.q2, _forward(forward), message)


def init_no_bn(self, in_planes, planes, stride=1):
    nn.Module.__init__(self)
    self.conv1 = nn.Conv2d(in_planes, planes, 3, stride=stride, padding=1)
    self.conv2 = nn.Conv2d(planes, planes, 3, padding=1)
    self.shortcut = nn.Sequential()


def forward_no_bn(self, x):
    return F.relu(self.conv2(F.relu(self.conv1(x))) + self.shortcut(x))


def init_option_a_repeats_channels(self, in_planes, planes, stride=1):
    nn.Module.__init__(self)
    _layers(self, in_planes, planes, stride)
    if stride != 1 or in_planes != planes:
        self.shortcut = lambda x: x[:, :, ::stride, ::stride].repeat(1, planes // in_planes, 1, 1)
    else:
        self.shortcut = nn.Sequential()


def init_option_a_twice(self, in_planes, planes, stride=1):
    nn.Module.__init__(self)
    _layers(self, in_planes, planes, stride)
    self.shortcut = _option_a(in_planes, planes, stride) if stride != 1 or in_planes != planes else (lambda x: x)


def forward_shortcut_twice(self, x):
    return F.relu(self.bn2(self.conv2(F.relu(self.bn1(self.conv1(x))))) + 2 * self.shortcut(x))


def init_stride_on_both(self, in_planes, planes, stride=1):
    nn.Module.__init__(self)
    _layers(self, in_planes, planes, stride, conv2_stride=stride)
    self.shortcut = _projection(in_planes, planes, stride) if stride != 1 or in_planes != planes else nn.Sequential()


def init_option_a_hard_coded_for_cifar(self, in_planes, planes, stride=1):
    """Option A as CIFAR code writes it: right only when the block halves the size AND doubles the channels."""
    nn.Module.__init__(self)
    _layers(self, in_planes, planes, stride)
    self.shortcut = nn.Sequential()
    if stride != 1 or in_planes != planes:
        self.shortcut = LambdaLayer(lambda x: F.pad(x[:, :, ::2, ::2], (0, 0, 0, 0, planes // 4, planes // 4)))


MORE_WRONG_BLOCKS = [
    (init_option_a_hard_coded_for_cifar, _good_forward, "hard-codes `::2` and `planes // 4`"),
    (init_no_bn, forward_no_bn, "batch normalisation missing"),
    (init_option_a_repeats_channels, _good_forward, "repeats x's channels"),
    (init_option_a_twice, forward_shortcut_twice, "shortcut added twice"),
    (init_stride_on_both, _good_forward, "wrong stride"),
    (init_projection_always, _good_forward, "a projection where none is needed"),
]


# --- the rest of the checker's catalogue: each message reached by the wrong block it names ------------------


class NotAModule:
    """`class Block:` with the `nn.Module` base forgotten."""

    def __init__(self, in_planes, planes, stride=1):
        self.planes = planes

    def forward(self, x):
        return x


def make_block(in_planes, planes, stride=1):
    """A factory function passed instead of the class."""
    return ResidualBlock(in_planes, planes, stride)


@pytest.mark.parametrize("answer", [NotAModule, make_block, "MyResidualBlock"], ids=["no-base", "function", "name"])
def test_answer_that_is_not_a_module_class_is_named(answer):
    _assert_mistake(ex.q2, answer, "expected a class that subclasses `nn.Module`")


def init_conv2d_typo(self, in_planes, planes, stride=1):
    nn.Module.__init__(self)
    self.conv1 = nn.Conv2D(in_planes, planes, 3, stride, 1)


def init_super_of_undefined_class(self, in_planes, planes, stride=1):
    super(ResBlock, self).__init__()  # noqa: F821 (the learner's typo for the class's name)


def init_conv_wrong_keyword(self, in_planes, planes, stride=1):
    nn.Module.__init__(self)
    self.conv1 = nn.Conv2d(in_planes, planes, kernel=3)


@pytest.mark.parametrize(
    "init, error",
    [
        (init_conv2d_typo, "AttributeError: module 'torch.nn' has no attribute 'Conv2D'"),
        (init_super_of_undefined_class, "NameError: name 'ResBlock' is not defined"),
        (init_conv_wrong_keyword, "TypeError"),
    ],
)
def test_other_errors_in_init_are_reported_as_the_learners_own(init, error):
    """Not one of the classic super() bugs: the learner's own error and line, not a misnamed Mistake."""
    _assert_mistake(ex.q2, _block(init), f"Your code raised {error}")
    assert f"in `{init.__name__}`" in ex.q2.feedback(_block(init))[1]


def _branch_out(self, x):
    return self.bn2(self.conv2(F.relu(self.bn1(self.conv1(x)))))


def init_conv2_from_in_planes(self, in_planes, planes, stride=1):
    init_option_b(self, in_planes, planes, stride)
    self.conv2 = nn.Conv2d(in_planes, planes, 3, padding=1, bias=False)


def downsample_on_out(self, x):
    out = _branch_out(self, x)
    identity = x
    if self.downsample is not None:
        identity = self.downsample(out)  # should be x
    return F.relu(out + identity)


def bn1_before_conv1(self, x):
    return F.relu(self.bn2(self.conv2(F.relu(self.conv1(self.bn1(x))))) + self.shortcut(x))


def bn1_bn2_swapped(self, x):
    return F.relu(self.bn1(self.conv2(F.relu(self.bn2(self.conv1(x))))) + self.shortcut(x))


def init_projection_unused(self, in_planes, planes, stride=1):
    init_option_b(self, in_planes, planes, stride)
    self.stride, self.extra = stride, planes - in_planes


def forward_pads_x_itself(self, x):
    """Builds the projection in __init__, then writes option A in forward and never calls it."""
    return F.relu(_branch_out(self, x) + F.pad(x[:, :, :: self.stride, :: self.stride], (0, 0, 0, 0, 0, self.extra)))


def init_torchvision_option_a(self, in_planes, planes, stride=1):
    nn.Module.__init__(self)
    _layers(self, in_planes, planes, stride)
    self.downsample = _option_a(in_planes, planes, stride) if stride != 1 or in_planes != planes else None


def adds_downsample_inside_if_and_after(self, x):
    out = _branch_out(self, x)
    identity = x
    if self.downsample is not None:
        identity = self.downsample(x)
        out = out + identity
    return F.relu(out + identity)


def init_no_shortcut(self, in_planes, planes, stride=1):
    nn.Module.__init__(self)
    _layers(self, in_planes, planes, stride)


def adds_x_only_where_shapes_agree(self, x):
    out = _branch_out(self, x)
    if out.shape == x.shape:
        out = out + x
    return F.relu(out)


def init_option_a_max_pool(self, in_planes, planes, stride=1):
    nn.Module.__init__(self)
    _layers(self, in_planes, planes, stride)
    self.shortcut = nn.Sequential()
    if stride != 1 or in_planes != planes:
        self.shortcut = LambdaLayer(
            lambda x: F.pad(F.max_pool2d(x, stride, ceil_mode=True), (0, 0, 0, 0, 0, planes - in_planes))
        )


def scales_shortcut_by_half(self, x):
    return F.relu(_branch_out(self, x) + 0.5 * self.shortcut(x))


def conv2_on_x_not_out(self, x):
    out = F.relu(self.bn1(self.conv1(x)))
    out = self.bn2(self.conv2(x))  # should be conv2(out)
    return F.relu(out + self.shortcut(x))


def concatenates(self, x):
    return F.relu(torch.cat([_branch_out(self, x), self.shortcut(x)], dim=1))


def multiplies(self, x):
    return F.relu(_branch_out(self, x) * self.shortcut(x))


def divides_sum_by_sqrt2(self, x):
    """The variance-preserving sum of some GAN ResNets: (R(x) + x) / sqrt(2)."""
    return F.relu((_branch_out(self, x) + self.shortcut(x)) / 2**0.5)


def averages_the_sum(self, x):
    return F.relu((_branch_out(self, x) + self.shortcut(x)) / 2)


def scales_the_branch_by_a_tenth(self, x):
    """Residual scaling (Szegedy et al.'s Inception-ResNet): a different block, named as such."""
    return F.relu(0.1 * _branch_out(self, x) + self.shortcut(x))


def scales_the_branch_by_a_fiftieth(self, x):
    """A scale small enough that the probe's ReLU cuts part of 100k + shortcut: named by a larger probe."""
    return F.relu(0.02 * _branch_out(self, x) + self.shortcut(x))


def bn_after_the_add(self, x):
    out = self.conv2(F.relu(self.bn1(self.conv1(x))))
    return F.relu(self.bn2(out + self.shortcut(x)))


CATALOGUE_REST = [
    (init_conv2_from_in_planes, _good_forward, "`conv2` maps 8 -> 16 channels; it should map 16 -> 16"),
    (
        init_torchvision_style,
        downsample_on_out,
        "`self.downsample` was applied to an intermediate result, not to the block's input: did you reuse the name `x` for R's layers? Keep the input (`identity = x`) and add `self.downsample(identity)`.",
    ),
    (init_option_b, bn1_before_conv1, "the layers run in the order bn1 -> conv1 -> conv2 -> bn2"),
    (init_option_b, bn1_bn2_swapped, "the layers run in the order conv1 -> bn2 -> conv2 -> bn1"),
    (init_projection_unused, forward_pads_x_itself, "stride=1 `self.shortcut` is never called"),
    (init_torchvision_option_a, adds_downsample_inside_if_and_after, "stride=1: shortcut added twice: with the"),
    (init_no_shortcut, adds_x_only_where_shapes_agree, "passes nothing of x on, like a plain block. Where the shape"),
    (init_option_a_max_pool, _good_forward, "stride=2 x has shape (N, 8, H, W) but R(x) has (N, 8, H/2, W/2), and"),
    (init_option_a_function, relu_on_input_first, "switched off, the shortcut carries relu(x), not x"),
    (init_option_b, scales_shortcut_by_half, "passes on something else: the shortcut must carry x unchanged"),
    (init_option_b, conv2_on_x_not_out, "does not change when the parameters of `conv1`, `bn1` change"),
    (init_option_b, concatenates, "the output has shape (2, 16, 6, 6); expected (2, 8, 6, 6)"),
    (init_option_b, multiplies, "your block's output does not follow R(x) one to one"),
    (init_option_a_function, reuses_name_x, "your block adds R(x) twice"),
    (init_option_b, divides_sum_by_sqrt2, "your block adds R(x) 0.707 times; H(x) = R(x) + x adds it once"),
    (init_option_b, averages_the_sum, "your block adds R(x) 0.5 times; H(x) = R(x) + x adds it once, unscaled"),
    (init_option_b, scales_the_branch_by_a_tenth, "your block adds R(x) 0.1 times"),
    (init_option_b, scales_the_branch_by_a_fiftieth, "your block adds R(x) 0.02 times"),
    (
        init_option_b,
        bn_after_the_add,
        "BatchNorm after the addition: at in_planes=8, planes=8, stride=1 your bn2 normalises R(x) + shortcut(x)",
    ),
]


@pytest.mark.parametrize(
    "init, forward, message",
    MORE_WRONG_BLOCKS + CATALOGUE_REST,
    ids=[f"{i.__name__}+{f.__name__}" for i, f, _ in MORE_WRONG_BLOCKS + CATALOGUE_REST],
)
def test_more_wrong_blocks_are_named(init, forward, message):
    _assert_mistake(ex.q2, _block(init, forward), message)


# --- a block that never finishes is stopped, with the call named ---------------------------------------------


def sleeps(self, x):
    time.sleep(30)
    return _good_forward(self, x)


def loops(self, x):
    while True:
        x = x + 0


def init_loops(self, in_planes, planes, stride=1):
    nn.Module.__init__(self)
    while True:
        pass


@pytest.mark.parametrize("forward", [sleeps, loops])
def test_hanging_forward_is_stopped_and_named(forward, monkeypatch):
    monkeypatch.setattr(block_checker, "FORWARD_SECONDS", 0.3)
    start = time.monotonic()
    status, message = ex.q2.feedback(_forward(forward))
    assert time.monotonic() - start < 5
    assert status == "incorrect"
    assert "your `forward` took longer than 0.3 s on a batch of shape (2, 8, 6, 6)" in message
    assert "endless loop" in message and f"in `{forward.__name__}`" in message


def test_hanging_init_is_stopped_and_named(monkeypatch):
    monkeypatch.setattr(block_checker, "BUILD_SECONDS", 0.3)
    start = time.monotonic()
    status, message = ex.q2.feedback(_block(init_loops))
    assert time.monotonic() - start < 5
    assert status == "incorrect" and "building your block, `Block(8, 8, stride=1)`, took longer than 0.3 s" in message


# --- q1 and q6: predictions, checked against the blocks themselves ------------------------------------------


def test_q1_truth_is_measured_from_the_blocks():
    plain, residual = ex.branch_off_outputs()
    assert plain == (0.0, 0.0, 0.0)
    assert residual == tuple(max(v, 0.0) for v in ex.Q1_X)  # relu(0 + x)
    assert ex.q1.feedback((plain, residual))[0] == "correct"
    assert ex.q1.feedback((np.zeros(3), torch.tensor(residual)))[0] == "correct"
    # the forms a learner gets from the blocks themselves: both outputs stacked, or NumPy copies of (1, 1, 1, 3)
    assert ex.q1.feedback(torch.tensor([plain, residual]))[0] == "correct"
    assert ex.q1.feedback(np.array([plain, residual]))[0] == "correct"
    assert ex.q1.feedback((np.zeros((1, 1, 1, 3)), np.array(residual).reshape(1, 1, 1, 3)))[0] == "correct"


@pytest.mark.parametrize(
    "answer, message",
    [
        (((0, 0, 0), (-1.0, 0.5, 2.0)), "the ReLU comes after the addition"),
        (((-1.0, 0.5, 2.0), (0, 0.5, 2.0)), "forgets its input"),
        (((0, 0.5, 2.0), (0, 0, 0)), "swapped"),
        (((0, 0, 0), (0, 0, 0)), "keeps its shortcut"),
        (((0, 0, 0), (1, 1, 1)), "apply that to each entry"),
        (((0, 0), (0, 0.5, 2.0)), "3 numbers"),
        ((0, 0.5, 2.0), "give a pair"),
        (((1, 1, 1), (0, 0.5, 2.0)), "the plain block computes relu(R(x)); with R(x) = 0, what is left?"),
        ((0, (0, 0.5, 2.0)), "the plain block's output should be 3 numbers, like (0.1, 0.2, 0.3); got 0."),
        (((0, 0, 0), "0, 0.5, 2"), "the residual block's output should be 3 numbers"),
    ],
)
def test_q1_wrong_predictions(answer, message):
    _assert_mistake(ex.q1, answer, message)


def test_q6_truth_is_measured():
    truth = ex.x_unchanged_after_inplace_add()
    assert truth == {"identity": False, "projection": True}
    assert ex.q6.feedback(truth)[0] == "correct"


def test_q6_measured_truth_values_and_keys_in_any_case():
    # what a learner gets from (x == before).all() or numpy, and keys typed with a capital
    import numpy as np

    truth = ex.x_unchanged_after_inplace_add()
    assert ex.q6.feedback({k.title(): np.bool_(v) for k, v in truth.items()})[0] == "correct"
    assert ex.q6.feedback({k: torch.tensor(v) for k, v in truth.items()})[0] == "correct"
    assert "answer True" in ex.q6.feedback({k: int(v) for k, v in truth.items()})[1]  # 0 and 1 are not answers


@pytest.mark.parametrize(
    "answer, message",
    [
        ({"identity": True, "projection": True}, "the very same tensor object"),
        ({"identity": False, "projection": False}, "computes a new tensor"),
        ({"identity": True, "projection": False}, "the very same tensor object"),
        ({"identity": "no", "projection": True}, "answer True"),
        ({"identity": False}, "missing: projection"),
        ({"identity": False, "projection": True, "shortcut": True}, "unknown case 'shortcut'"),
        ([False, True], "answer with a dict"),
    ],
)
def test_q6_wrong_predictions(answer, message):
    _assert_mistake(ex.q6, answer, message)


# --- numbers: NumPy integers are whole numbers, 14.5 is not ----------------------------------------------------


def test_q4_q5_accept_numpy_integers():
    assert ex.q4.feedback(np.array([8, 32, 14, 14]))[0] == "correct"
    assert ex.q4.feedback(tuple(np.int64(v) for v in (8, 32, 14, 14)))[0] == "correct"
    assert ex.q5.feedback(np.int64(16 * 32 * 9 + 32 * 32 * 9 + 16 * 32 + 3 * 2 * 32))[0] == "correct"


def test_q4_rejects_non_whole_sizes():
    _assert_mistake(ex.q4, (8, 32, 14.5, 14.5), "14.5 is not a whole number")
