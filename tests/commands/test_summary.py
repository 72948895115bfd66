"""`zoo summary`: its flags (--model, --input-shape, --classes) and what it prints."""


def test_unknown_model_is_one_line_and_exit_2(zoo_cli):
    result = zoo_cli("summary", "--model", "minivgg")
    assert result.code == 2
    assert result.err.count("\n") == 1 and result.err.startswith("zoo: error: ")
    assert "minivggnet" in result.err


def test_bad_flag_is_one_line_and_exit_2(zoo_cli):
    result = zoo_cli("summary", "--model", "lenet", "--input-shape", "a,b")
    assert result.code == 2 and result.err.count("\n") == 1


def test_summary_prints_layers_params_and_flops(zoo_cli):
    result = zoo_cli("summary", "--model", "lenet")
    assert result.code == 0
    assert "conv1 (Conv2D)" in result.out and "predictions (Dense)" in result.out
    assert "Parameters: 1,256,080" in result.out
    assert "Forward FLOPs per image: 13,044,000" in result.out


def test_summary_honours_input_shape_and_classes(zoo_cli):
    result = zoo_cli("summary", "--model", "lenet", "--input-shape", "32,32,3", "--classes", "5")
    assert "Input shape: 32x32x3" in result.out
    assert "(None, 5)" in result.out


def test_too_small_input_is_a_one_line_error(zoo_cli):
    result = zoo_cli("summary", "--model", "alexnet", "--input-shape", "28,28,1")
    assert result.code == 2 and "67x67" in result.err and "Traceback" not in result.err
