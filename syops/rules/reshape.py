"""Modules and torch functions that do no arithmetic: reshapes, padding, dropout (inference), identity,
lookups, tensor metadata."""

from __future__ import annotations

from torch import nn

from .registry import zero_cost

zero_cost(
    nn.Identity,
    nn.Flatten,
    nn.Unflatten,
    nn.Dropout,
    nn.Dropout1d,
    nn.Dropout2d,
    nn.Dropout3d,
    nn.AlphaDropout,
    nn.FeatureAlphaDropout,
    nn.PixelShuffle,
    nn.PixelUnshuffle,
    nn.ChannelShuffle,
    nn.ZeroPad1d,
    nn.ZeroPad2d,
    nn.ZeroPad3d,
    nn.ConstantPad1d,
    nn.ConstantPad2d,
    nn.ConstantPad3d,
    nn.ReflectionPad1d,
    nn.ReflectionPad2d,
    nn.ReflectionPad3d,
    nn.ReplicationPad1d,
    nn.ReplicationPad2d,
    nn.ReplicationPad3d,
    nn.CircularPad1d,
    nn.CircularPad2d,
    nn.CircularPad3d,
    nn.Embedding,
)

# Torch functions (and Tensor methods, by name) that move, view, build or describe tensors without
# arithmetic on their values. A module without a rule that calls only these, and functions with op
# rules, has had all its work counted; one that calls anything else may hold arithmetic syops missed
# (``Report.unsupported``).
_FREE_GROUPS = (
    "__get__ __set__ __getitem__ __setitem__ __len__ __iter__ __contains__ __bool__ __index__ __int__",
    "__float__ __format__ __repr__ __str__ __hash__ __reduce_ex__ __deepcopy__ __array__ _assert",
    "permute transpose swapaxes swapdims movedim moveaxis t view view_as reshape reshape_as flatten",
    "unflatten squeeze unsqueeze expand expand_as contiguous narrow select index_select gather take",
    "masked_select split split_with_sizes tensor_split chunk unbind cat concat concatenate stack hstack",
    "vstack dstack flip fliplr flipud roll rot90 repeat tile repeat_interleave broadcast_to as_strided",
    "broadcast_tensors meshgrid pad clone detach detach_ to type cpu cuda float double half bfloat16 int",
    "long bool byte char short numel dim ndimension size stride storage_offset data_ptr element_size",
    "is_contiguous is_floating_point is_complex get_device requires_grad_ tolist item new_zeros new_ones",
    "new_empty new_full new_tensor zeros ones empty full zeros_like ones_like empty_like full_like",
    "arange linspace tensor as_tensor unfold diagonal tril triu copy_ fill_ zero_ split_",
    "rand randn randint randperm rand_like randn_like randint_like",
    "dropout dropout1d dropout2d dropout3d alpha_dropout feature_alpha_dropout",
    "where masked_fill masked_fill_ masked_scatter scatter scatter_ index_copy index_fill index_put index_put_",
)
FREE_OP_NAMES: frozenset[str] = frozenset(name for group in _FREE_GROUPS for name in group.split())
