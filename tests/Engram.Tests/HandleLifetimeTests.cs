using Engram.Native;

namespace Engram.Tests;

/// <summary>
/// ContextOwnedHandle: a handle owned by a context keeps the native context alive until it is released,
/// whatever order the caller disposes them in, and is released before it. On a CPU build there is no
/// native object a context owns (device memory and events are CUDA's), so the owned object here is the
/// context itself, seen through a second handle that destroys nothing: the test watches when libengram's
/// context is destroyed and whether it is still usable while the owned handle releases.
/// </summary>
public sealed class HandleLifetimeTests
{
    /// <summary>A context-owned handle over the context pointer; its release calls libengram on the context.</summary>
    private sealed class ContextView : ContextOwnedHandle
    {
        public EngramStatus? StatusAtRelease { get; private set; }
        public bool ContextReleasedAtRelease { get; private set; }
        public int Releases { get; private set; }

        public static ContextView Over(EngramContextHandle context) =>
            Create(context, ctx =>
            {
                var view = new ContextView();
                view.SetHandle(ctx.DangerousGetHandle());
                return view;
            });

        protected override bool ReleaseNative()
        {
            Releases++;
            ContextReleasedAtRelease = Context.IsReleased;
            StatusAtRelease = NativeMethods.engram_context_get_threads(Context, out _);
            return true;
        }
    }

    private sealed class InvalidView : ContextOwnedHandle
    {
        protected override bool ReleaseNative() => true;
    }

    [Test]
    public void TheContextOutlivesAnOwnedHandleDisposedAfterIt()
    {
        var ctx = EngramContext.Create(EngramBackend.NativeCpu);
        var handle = ctx.NativeHandle!;
        var view = ContextView.Over(handle);
        ctx.Dispose();
        Assert.That(handle.IsReleased, Is.False, "disposed, but not destroyed while the owned handle holds it");
        Assert.Throws<ObjectDisposedException>(() => _ = ctx.Threads, "the context object is unusable all the same");
        view.Dispose();
        Assert.That(view.Releases, Is.EqualTo(1));
        Assert.That(view.ContextReleasedAtRelease, Is.False, "the owned object is released first");
        Assert.That(view.StatusAtRelease, Is.EqualTo(EngramStatus.Ok), "and the context is usable in its release");
        Assert.That(handle.IsReleased, Is.True, "the last reference destroys the context");
    }

    [Test]
    public void DisposingTheOwnedHandleFirstLeavesTheContextToItsOwner()
    {
        using var ctx = EngramContext.Create(EngramBackend.NativeCpu);
        var handle = ctx.NativeHandle!;
        var view = ContextView.Over(handle);
        view.Dispose();
        view.Dispose(); // twice is fine
        Assert.That(view.Releases, Is.EqualTo(1));
        Assert.That(handle.IsReleased, Is.False);
        Assert.That(ctx.Threads, Is.GreaterThan(0), "the context still works");
        ctx.Dispose();
        Assert.That(handle.IsReleased, Is.True);
    }

    [Test]
    public void CreatingOnADisposedContextThrows()
    {
        var ctx = EngramContext.Create(EngramBackend.NativeCpu);
        var handle = ctx.NativeHandle!;
        ctx.Dispose();
        Assert.Throws<ObjectDisposedException>(() => ContextView.Over(handle));
        Assert.That(handle.IsReleased, Is.True);
    }

    [Test]
    public void AFailedCreateGivesItsReferenceBack()
    {
        var ctx = EngramContext.Create(EngramBackend.NativeCpu);
        var handle = ctx.NativeHandle!;
        // A native create that fails: the status becomes an exception, the reference is given back.
        Assert.Throws<EngramArgumentException>(() => ContextOwnedHandle.Create<ContextView>(handle, c =>
        {
            NativeMethods.Check(NativeMethods.engram_context_set_threads(c, -1));
            return null!;
        }));
        // One that "succeeds" without an object.
        Assert.Throws<InvalidOperationException>(() => ContextOwnedHandle.Create(handle, _ => new InvalidView()));
        ctx.Dispose();
        Assert.That(handle.IsReleased, Is.True, "no reference was left behind");
    }

    [Test]
    public void DeviceMemoryAndEventsAreContextOwned()
    {
        Assert.That(typeof(DeviceMemoryHandle).IsSubclassOf(typeof(ContextOwnedHandle)), Is.True);
        Assert.That(typeof(EngramEventHandle).IsSubclassOf(typeof(ContextOwnedHandle)), Is.True);
    }
}
