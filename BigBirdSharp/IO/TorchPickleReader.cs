using System.Buffers.Binary;
using System.Text;

namespace BigBirdSharp.IO;

/// <summary>Python's <c>None</c> as the pickle reader represents it.</summary>
internal sealed class PyNone
{
    public static readonly PyNone Instance = new();
    private PyNone() { }
    public override string ToString() => "None";
}

/// <summary>A Python tuple.</summary>
internal sealed class PyTuple(object[] items)
{
    public object[] Items { get; } = items;
    public override string ToString() => TorchPickleReader.Describe(this);
}

/// <summary>A Python dict or OrderedDict: key/value pairs in insertion order.</summary>
internal sealed class PyDict
{
    public List<KeyValuePair<object, object>> Items { get; } = [];
}

/// <summary>A name a GLOBAL opcode referred to. It is only ever a token: nothing is imported.</summary>
internal sealed record PyGlobal(string Module, string Name)
{
    public override string ToString() => Module + "." + Name;
}

/// <summary>One storage record of a torch zip checkpoint: a zip entry <c>data/KEY</c> of <c>Numel</c> elements.</summary>
internal sealed record TorchStorage(TensorDType DType, string TypeName, string Key, string Location, long Numel);

/// <summary>The arguments torch's <c>_rebuild_tensor_v2</c> would receive, kept as plain data.</summary>
internal sealed record TorchTensor(TorchStorage Storage, long StorageOffset, long[] Size, long[] Stride);

/// <summary>
/// A deliberately tiny pickle interpreter for the <c>data.pkl</c> of a torch zip checkpoint.
/// It understands the opcodes <c>torch.save</c> emits (protocols 2 to 4) and knows a fixed allowlist of
/// globals, which it never imports or calls: tensor rebuilds become <see cref="TorchTensor"/> records,
/// OrderedDict becomes <see cref="PyDict"/>. Any other global, and every opcode that could build an
/// arbitrary object, is refused with <see cref="CheckpointFormatException"/> as soon as it is read.
/// </summary>
internal sealed class TorchPickleReader
{
    private static readonly Dictionary<string, TensorDType> StorageTypes = new(StringComparer.Ordinal)
    {
        ["FloatStorage"] = TensorDType.F32,
        ["HalfStorage"] = TensorDType.F16,
        ["BFloat16Storage"] = TensorDType.BF16,
        ["DoubleStorage"] = TensorDType.F64,
        ["LongStorage"] = TensorDType.I64,
        ["IntStorage"] = TensorDType.I32,
        ["ShortStorage"] = TensorDType.I16,
        ["CharStorage"] = TensorDType.I8,
        ["ByteStorage"] = TensorDType.U8,
        ["BoolStorage"] = TensorDType.Bool,
    };

    private static readonly HashSet<string> Callables = new(StringComparer.Ordinal)
    {
        "torch._utils._rebuild_tensor_v2",
        "torch._utils._rebuild_parameter",
        "torch._utils._rebuild_parameter_with_state",
        "collections.OrderedDict",
    };

    /// <summary>
    /// Most values the pickle may push or memoize in all. Each opcode creates at most one object, so this also caps the
    /// objects, the stack, the memo and the elements of every container. torch.save spends about 40 per tensor, so this
    /// admits state dicts of about 100,000 tensors while holding a hostile pickle to a few hundred megabytes.
    /// </summary>
    public const int MaxValues = 4_000_000;

    private static readonly UTF8Encoding StrictUtf8 = new(false, true);
    private static readonly object Mark = new();

    private readonly string _path;
    private readonly byte[] _data;
    private int _pos;
    private int _values;
    private readonly int _maxValues;
    private readonly List<object> _stack = [];
    private readonly List<int> _marks = [];
    private readonly Dictionary<long, object> _memo = [];
    private readonly Dictionary<string, TorchStorage> _storages = new(StringComparer.Ordinal);

    private TorchPickleReader(string path, byte[] data, int maxValues)
    {
        _maxValues = maxValues;
        _path = path;
        _data = data;
    }

    /// <summary>
    /// Runs the pickle program in <paramref name="pickle"/> and returns its result.
    /// <paramref name="path"/> is used only in error messages.
    /// </summary>
    /// <exception cref="CheckpointFormatException">The pickle is truncated, malformed, uses an unsupported
    /// opcode, or names a global outside the allowlist.</exception>
    public static object Load(string path, byte[] pickle) => Load(path, pickle, MaxValues);

    /// <summary><see cref="Load(string, byte[])"/> with another cap on values (tests use small ones).</summary>
    internal static object Load(string path, byte[] pickle, int maxValues) => new TorchPickleReader(path, pickle, maxValues).Run();

    /// <summary>
    /// A short, bounded description of a pickled value for error messages. Nesting depth and length are
    /// capped so a hostile, deeply nested value cannot overflow the stack or flood the message.
    /// </summary>
    public static string Describe(object? value, int depth = 0) => value switch
    {
        null => "null",
        string s => "'" + (s.Length > 60 ? s[..60] + "..." : s) + "'",
        long or bool or double or PyNone or PyGlobal => value.ToString()!,
        PyTuple t when depth >= 3 => $"(tuple of {t.Items.Length})",
        PyTuple t => "(" + string.Join(", ", t.Items.Take(6).Select(i => Describe(i, depth + 1))) + (t.Items.Length > 6 ? ", ..." : "") + ")",
        TorchStorage st => $"{st.TypeName}[{st.Numel}] '{st.Key}'",
        TorchTensor => "tensor",
        PyDict => "dict",
        List<object> => "list",
        byte[] b => $"bytes[{b.Length}]",
        _ => value.GetType().Name,
    };

    private CheckpointFormatException Fail(string message) =>
        new(_path, $"data.pkl offset {_pos}: {message}");

    private object Run()
    {
        while (true)
        {
            if (_pos >= _data.Length) throw Fail("pickle ends without a STOP opcode (truncated)");
            int at = _pos;
            byte op = _data[_pos++];
            switch (op)
            {
                case 0x80: // PROTO
                    {
                        byte protocol = ReadByte();
                        if (protocol > 5) throw Fail($"unsupported pickle protocol {protocol}");
                        break;
                    }
                case 0x95: // FRAME: an 8-byte length hint, framing is transparent here
                    Take(8);
                    break;
                case (byte)'.': // STOP
                    {
                        if (_stack.Count != 1 || _marks.Count != 0)
                            throw Fail($"STOP with {_stack.Count} values on the stack and {_marks.Count} open marks; expected exactly one result");
                        return _stack[0];
                    }
                case (byte)'(': // MARK
                    _marks.Add(_stack.Count);
                    Push(Mark);
                    break;
                case (byte)'}': Push(new PyDict()); break; // EMPTY_DICT
                case (byte)']': Push(new List<object>()); break; // EMPTY_LIST
                case (byte)')': Push(new PyTuple([])); break; // EMPTY_TUPLE
                case (byte)'N': Push(PyNone.Instance); break; // NONE
                case 0x88: Push(true); break; // NEWTRUE
                case 0x89: Push(false); break; // NEWFALSE
                case (byte)'J': Push((long)BinaryPrimitives.ReadInt32LittleEndian(Take(4))); break; // BININT
                case (byte)'K': Push((long)ReadByte()); break; // BININT1
                case (byte)'M': Push((long)BinaryPrimitives.ReadUInt16LittleEndian(Take(2))); break; // BININT2
                case 0x8a: Push(ReadLong(ReadByte())); break; // LONG1
                case 0x8b: // LONG4
                    {
                        int n = BinaryPrimitives.ReadInt32LittleEndian(Take(4));
                        if (n < 0) throw Fail("LONG4 with a negative length");
                        Push(ReadLong(n));
                        break;
                    }
                case (byte)'G': Push(BinaryPrimitives.ReadDoubleBigEndian(Take(8))); break; // BINFLOAT
                case (byte)'X': Push(ReadUtf8(BinaryPrimitives.ReadUInt32LittleEndian(Take(4)))); break; // BINUNICODE
                case 0x8c: Push(ReadUtf8(ReadByte())); break; // SHORT_BINUNICODE
                case 0x8d: Push(ReadUtf8(BinaryPrimitives.ReadUInt64LittleEndian(Take(8)))); break; // BINUNICODE8
                case (byte)'C': Push(Take(ReadByte()).ToArray()); break; // SHORT_BINBYTES
                case (byte)'B': Push(Take(CheckedLength(BinaryPrimitives.ReadUInt32LittleEndian(Take(4)))).ToArray()); break; // BINBYTES
                case (byte)'t': Push(new PyTuple(PopToMark().ToArray())); break; // TUPLE
                case 0x85: { var a = Pop(); Push(new PyTuple([a])); break; } // TUPLE1
                case 0x86: { var b = Pop(); var a = Pop(); Push(new PyTuple([a, b])); break; } // TUPLE2
                case 0x87: { var c = Pop(); var b = Pop(); var a = Pop(); Push(new PyTuple([a, b, c])); break; } // TUPLE3
                case (byte)'l': Push(PopToMark()); break; // LIST
                case (byte)'a': // APPEND
                    {
                        var value = Pop();
                        AsList(Peek()).Add(value);
                        break;
                    }
                case (byte)'e': // APPENDS
                    {
                        var items = PopToMark();
                        AsList(Peek()).AddRange(items);
                        break;
                    }
                case (byte)'d': // DICT
                    {
                        var items = PopToMark();
                        var dict = new PyDict();
                        AddPairs(dict, items);
                        Push(dict);
                        break;
                    }
                case (byte)'s': // SETITEM
                    {
                        var value = Pop();
                        var key = Pop();
                        AddPairs(AsDict(Peek()), [key, value]);
                        break;
                    }
                case (byte)'u': // SETITEMS
                    {
                        var items = PopToMark();
                        AddPairs(AsDict(Peek()), items);
                        break;
                    }
                case (byte)'0': Pop(); break; // POP
                case (byte)'1': PopToMark(); break; // POP_MARK
                case (byte)'2': Push(Peek()); break; // DUP
                case (byte)'q': MemoPut(ReadByte()); break; // BINPUT
                case (byte)'r': MemoPut(BinaryPrimitives.ReadUInt32LittleEndian(Take(4))); break; // LONG_BINPUT
                case 0x94: MemoPut(_memo.Count); break; // MEMOIZE
                case (byte)'h': Push(MemoGet(ReadByte())); break; // BINGET
                case (byte)'j': Push(MemoGet(BinaryPrimitives.ReadUInt32LittleEndian(Take(4)))); break; // LONG_BINGET
                case (byte)'c': // GLOBAL
                    {
                        string module = ReadLine();
                        string name = ReadLine();
                        Push(CheckGlobal(module, name));
                        break;
                    }
                case 0x93: // STACK_GLOBAL
                    {
                        var name = Pop();
                        var module = Pop();
                        if (module is not string m || name is not string n)
                            throw Fail("STACK_GLOBAL needs two strings on the stack");
                        Push(CheckGlobal(m, n));
                        break;
                    }
                case (byte)'Q': Push(PersistentLoad(Pop())); break; // BINPERSID
                case (byte)'R': // REDUCE
                    {
                        var args = Pop();
                        var callable = Pop();
                        Push(Reduce(callable, args));
                        break;
                    }
                case (byte)'b': // BUILD
                    {
                        var state = Pop();
                        Build(Peek(), state);
                        break;
                    }
                default:
                    _pos = at;
                    throw Fail($"unsupported pickle opcode 0x{op:x2} ('{(op is >= 0x20 and < 0x7f ? (char)op : '?')}'); only the opcodes torch.save emits are accepted");
            }
        }
    }

    private object CheckGlobal(string module, string name)
    {
        string full = module + "." + name;
        if (Callables.Contains(full)) return new PyGlobal(module, name);
        if (module == "torch" && StorageTypes.ContainsKey(name)) return new PyGlobal(module, name);
        throw Fail($"refusing global '{full}': only torch tensor-rebuild functions, torch storage types and collections.OrderedDict are allowed; nothing in the file is executed");
    }

    private object PersistentLoad(object pid)
    {
        if (pid is not PyTuple { Items: [string kind, PyGlobal type, string key, string location, long numel] })
            throw Fail($"persistent id {Describe(pid)} is not ('storage', StorageType, key, location, numel)");
        if (kind != "storage")
            throw Fail($"persistent id kind '{kind}' is not 'storage'");
        if (type.Module != "torch" || !StorageTypes.TryGetValue(type.Name, out var dtype))
            throw Fail($"persistent id names '{type}', which is not a torch storage type");
        if (numel < 0)
            throw Fail($"storage '{key}' claims a negative element count {numel}");
        if (key.Length == 0 || key.Contains('/') || key.Contains('\\'))
            throw Fail($"storage key '{key}' is not a plain record name");

        var storage = new TorchStorage(dtype, type.Name, key, location, numel);
        if (_storages.TryGetValue(key, out var existing))
        {
            if (existing.DType != dtype || existing.Numel != numel)
                throw Fail($"storage '{key}' is referenced as {existing.TypeName}[{existing.Numel}] and as {type.Name}[{numel}]");
            return existing;
        }
        _storages.Add(key, storage);
        return storage;
    }

    private object Reduce(object callable, object args)
    {
        if (callable is not PyGlobal g || !Callables.Contains(g.ToString()))
            throw Fail($"REDUCE may only call the allowlisted torch rebuild functions or OrderedDict, not {Describe(callable)}");
        if (args is not PyTuple tuple)
            throw Fail($"REDUCE arguments for {g} are not a tuple");
        var a = tuple.Items;
        switch (g.Name)
        {
            case "OrderedDict":
                if (a.Length != 0) throw Fail("collections.OrderedDict with constructor arguments is not supported");
                return new PyDict();
            case "_rebuild_tensor_v2":
                {
                    if (a.Length is < 6 or > 7 || a[0] is not TorchStorage storage || a[1] is not long offset
                        || a[2] is not PyTuple size || a[3] is not PyTuple stride || a[4] is not bool)
                        throw Fail("_rebuild_tensor_v2 arguments are not (storage, storage_offset, size, stride, requires_grad, backward_hooks[, metadata])");
                    return new TorchTensor(storage, offset, LongTuple(size, "size"), LongTuple(stride, "stride"));
                }
            case "_rebuild_parameter":
            case "_rebuild_parameter_with_state":
                {
                    int expected = g.Name == "_rebuild_parameter" ? 3 : 4;
                    if (a.Length != expected || a[0] is not TorchTensor tensor || a[1] is not bool)
                        throw Fail($"{g.Name} arguments are not (tensor, requires_grad, backward_hooks{(expected == 4 ? ", state" : "")})");
                    return tensor;
                }
            default:
                throw Fail($"REDUCE on {g} is not supported");
        }
    }

    private void Build(object target, object state)
    {
        // An nn.Module state_dict is an OrderedDict whose instance dict carries `_metadata`; that state
        // only describes module versions and is dropped. Nothing else may be built.
        if (target is not PyDict)
            throw Fail($"BUILD is only supported on an OrderedDict, not on {target.GetType().Name}");
        if (state is not (PyDict or PyNone or PyTuple))
            throw Fail("BUILD state for an OrderedDict must be a dict, a tuple or None");
    }

    private long[] LongTuple(PyTuple tuple, string what)
    {
        var result = new long[tuple.Items.Length];
        for (int i = 0; i < result.Length; i++)
        {
            if (tuple.Items[i] is not long v) throw Fail($"tensor {what} entry {Describe(tuple.Items[i])} is not an integer");
            result[i] = v;
        }
        return result;
    }

    private void AddPairs(PyDict dict, List<object> items)
    {
        if (items.Count % 2 != 0) throw Fail("SETITEMS with an odd number of values");
        for (int i = 0; i < items.Count; i += 2) dict.Items.Add(new(items[i], items[i + 1]));
    }

    private List<object> AsList(object value) =>
        value as List<object> ?? throw Fail($"APPEND target is not a list but {value.GetType().Name}");

    private PyDict AsDict(object value) =>
        value as PyDict ?? throw Fail($"SETITEM target is not a dict but {value.GetType().Name}");

    private object MemoGet(long index) =>
        _memo.TryGetValue(index, out var value) ? value : throw Fail($"memo slot {index} was never stored");

    private void Push(object value)
    {
        Spend();
        _stack.Add(value);
    }

    private void MemoPut(long index)
    {
        var value = Peek();
        Spend();
        _memo[index] = value;
    }

    /// <summary>Counts one pushed or memoized value against <see cref="MaxValues"/>.</summary>
    private void Spend()
    {
        if (++_values > _maxValues)
            throw Fail($"the pickle builds more than {_maxValues} values (objects, stack and memo entries; {_stack.Count} on the stack, {_memo.Count} memoized); a torch state dict needs about 40 per tensor, so this is not one");
    }

    private object Peek()
    {
        if (_stack.Count == 0 || (_marks.Count > 0 && _marks[^1] == _stack.Count - 1))
            throw Fail("stack underflow");
        return _stack[^1];
    }

    private object Pop()
    {
        var value = Peek();
        _stack.RemoveAt(_stack.Count - 1);
        return value;
    }

    private List<object> PopToMark()
    {
        if (_marks.Count == 0) throw Fail("no MARK to pop to");
        int mark = _marks[^1];
        _marks.RemoveAt(_marks.Count - 1);
        var items = _stack.GetRange(mark + 1, _stack.Count - mark - 1);
        _stack.RemoveRange(mark, _stack.Count - mark);
        return items;
    }

    private byte ReadByte() => Take(1)[0];

    private int CheckedLength(ulong length)
    {
        if (length > (ulong)(_data.Length - _pos))
            throw Fail($"a {length}-byte value runs past the end of the pickle ({_data.Length - _pos} bytes left)");
        return (int)length;
    }

    private ReadOnlySpan<byte> Take(int count)
    {
        CheckedLength((ulong)count);
        var span = new ReadOnlySpan<byte>(_data, _pos, count);
        _pos += count;
        return span;
    }

    private string ReadUtf8(ulong length)
    {
        var bytes = Take(CheckedLength(length));
        try
        {
            return StrictUtf8.GetString(bytes);
        }
        catch (DecoderFallbackException e)
        {
            throw new CheckpointFormatException(_path, $"data.pkl offset {_pos}: string is not valid UTF-8", e);
        }
    }

    private string ReadLine()
    {
        int end = Array.IndexOf(_data, (byte)'\n', _pos, Math.Min(_data.Length - _pos, 512));
        if (end < 0) throw Fail("GLOBAL name is not terminated by a newline within 512 bytes");
        var bytes = new ReadOnlySpan<byte>(_data, _pos, end - _pos);
        foreach (var b in bytes)
            if (b is < 0x20 or >= 0x7f) throw Fail("GLOBAL name has non-printable characters");
        _pos = end + 1;
        return Encoding.ASCII.GetString(bytes);
    }

    private long ReadLong(int byteCount)
    {
        if (byteCount > 8) throw Fail($"integer of {byteCount} bytes does not fit in 64 bits");
        var bytes = Take(byteCount);
        if (byteCount == 0) return 0;
        long value = 0;
        for (int i = byteCount - 1; i >= 0; i--) value = (value << 8) | bytes[i];
        int unused = 64 - 8 * byteCount;
        return unused == 0 ? value : (value << unused) >> unused; // sign-extend two's complement
    }
}
