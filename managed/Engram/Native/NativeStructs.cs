using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace Engram.Native;

// Blittable mirrors of the structs in native/include/engram.h, field for field and
// in the same order. AbiLayoutTests compares every size and offset with
// engram_struct_layout() so a drift fails a test instead of corrupting memory.

/// <summary>engram_capabilities.</summary>
[StructLayout(LayoutKind.Sequential)]
internal unsafe struct EngramCapabilities
{
    public uint struct_size;
    public int abi_version;
    public int has_cpu;
    public int cuda_built;
    public int cuda_device_count;
    public int cpu_isa;
    public int cpu_threads;
    public uint cpu_dtypes;
    public uint cuda_dtypes;
    public int reserved;
    public fixed byte cpu_name[128];
    public fixed byte cuda_status[128];
}

/// <summary>engram_device_info.</summary>
[StructLayout(LayoutKind.Sequential)]
internal unsafe struct EngramDeviceInfo
{
    public uint struct_size;
    public int device;
    public int sm_count;
    public int cc_major;
    public int cc_minor;
    public int reserved;
    public ulong total_memory;
    public ulong free_memory;
    public fixed byte name[256];
}

/// <summary>engram_memory_stats.</summary>
[StructLayout(LayoutKind.Sequential)]
internal struct EngramMemoryStats
{
    public uint struct_size;
    public int reserved;
    public ulong current_bytes;
    public ulong peak_bytes;
    public ulong allocations;
}

/// <summary>engram_op_counter.</summary>
[StructLayout(LayoutKind.Sequential)]
internal unsafe struct EngramOpCounter
{
    public fixed byte name[24];
    public ulong value;
}

/// <summary>engram_op_stats (ENGRAM_OP_COUNTERS = 8 counters).</summary>
[StructLayout(LayoutKind.Sequential)]
internal unsafe struct EngramOpStats
{
    public const int MaxCounters = 8;
    public uint struct_size;
    public int op;
    public int backend;
    public int counter_count;
    public EngramOpCounter counter0, counter1, counter2, counter3, counter4, counter5, counter6, counter7;

    /// <summary>The counters in use, by name.</summary>
    public readonly Dictionary<string, ulong> Counters()
    {
        var result = new Dictionary<string, ulong>();
        fixed (EngramOpCounter* first = &counter0)
        {
            for (int i = 0; i < Math.Min(counter_count, MaxCounters); i++)
                result[FixedText.Read(first[i].name, 24)] = first[i].value;
        }
        return result;
    }
}

/// <summary>engram_cce_options.</summary>
[StructLayout(LayoutKind.Sequential)]
internal struct EngramCceOptions
{
    public uint struct_size;
    public int reduction;
    public long ignore_index;
    public float softcap;
    public float label_smoothing;
    public float z_loss;
    public float filter_eps;
    public int check_targets;
    public int reserved;
    public ulong scratch_bytes;
}

/// <summary>engram_cce_inputs.</summary>
[StructLayout(LayoutKind.Sequential)]
internal unsafe struct EngramCceInputs
{
    public uint struct_size;
    public int dtype;
    public int target_dtype;
    public int reserved;
    public long n;
    public long d;
    public long v;
    public long vocab_start;
    public long vocab_total;
    public void* e;
    public void* c;
    public void* bias;
    public void* targets;
}

/// <summary>engram_cce_grads.</summary>
[StructLayout(LayoutKind.Sequential)]
internal unsafe struct EngramCceGrads
{
    public uint struct_size;
    public int dtype;
    public void* grad_e;
    public void* grad_c;
    public void* grad_bias;
}

/// <summary>engram_scan_options.</summary>
[StructLayout(LayoutKind.Sequential)]
internal struct EngramScanOptions
{
    public uint struct_size;
    public int chunk_size;
    public float scale;
    public int output_dtype;
}

/// <summary>engram_scan_inputs.</summary>
[StructLayout(LayoutKind.Sequential)]
internal unsafe struct EngramScanInputs
{
    public uint struct_size;
    public int dtype;
    public int gate;
    public int reserved;
    public long batch;
    public long t;
    public long heads;
    public long qk_heads;
    public long k_dim;
    public long v_dim;
    public void* q;
    public void* k;
    public void* v;
    public float* g;
    public float* initial_state;
}

/// <summary>engram_scan_grads.</summary>
[StructLayout(LayoutKind.Sequential)]
internal unsafe struct EngramScanGrads
{
    public uint struct_size;
    public int dtype;
    public void* dq;
    public void* dk;
    public void* dv;
    public float* dg;
    public float* d_initial_state;
}

/// <summary>engram_attention_cache_config.</summary>
[StructLayout(LayoutKind.Sequential)]
internal unsafe struct EngramAttentionCacheConfig
{
    public uint struct_size;
    public int dtype;
    public int layers;
    public int kv_heads;
    public int head_dim;
    public int sink_tokens;
    public int window;
    public int reserved;
    public long capacity;
    public int* policy;
}

/// <summary>engram_attention_cache_info.</summary>
[StructLayout(LayoutKind.Sequential)]
internal struct EngramAttentionCacheInfo
{
    public uint struct_size;
    public int layer;
    public long length;
    public long retrieval_tokens;
    public long streaming_tokens;
    public int retrieval_heads;
    public int streaming_heads;
    public ulong layer_bytes;
    public ulong layer_streaming_bytes;
    public ulong total_bytes;
}

/// <summary>engram_attention_options.</summary>
[StructLayout(LayoutKind.Sequential)]
internal struct EngramAttentionOptions
{
    public uint struct_size;
    public float scale;
}

/// <summary>engram_qweight.</summary>
[StructLayout(LayoutKind.Sequential)]
internal unsafe struct EngramQWeight
{
    public uint struct_size;
    public int code_dtype;
    public int scale_dtype;
    public int group_size;
    public int layout;
    public int reserved;
    public long n_out;
    public long k;
    public uint* codes;
    public ulong code_words;
    public void* scales;
    public void* zeros;
}

/// <summary>Reads the NUL-terminated UTF-8 text of a fixed char array.</summary>
internal static class FixedText
{
    public static unsafe string Read(byte* chars, int capacity)
    {
        var span = new ReadOnlySpan<byte>(chars, capacity);
        int end = span.IndexOf((byte)0);
        return System.Text.Encoding.UTF8.GetString(end < 0 ? span : span[..end]);
    }
}
