using System.Runtime.CompilerServices;
using System.Runtime.ExceptionServices;

namespace IommuLab.Model.Exploration;

/// <summary>
/// The task type of every model function that can reach a scheduling point. It completes synchronously (no
/// allocation) when nothing suspended, and otherwise chains continuations without ExecutionContext, thread pool or
/// SynchronizationContext, so only the <see cref="Scheduler"/> decides what runs next.
/// </summary>
[AsyncMethodBuilder(typeof(KTaskBuilder<>))]
public readonly struct KTask<T>
{
    private readonly KPromise<T>? _promise;
    private readonly T _result;

    internal KTask(T result)
    {
        _result = result;
        _promise = null;
    }

    internal KTask(KPromise<T> promise)
    {
        _result = default!;
        _promise = promise;
    }

    public bool IsCompleted => _promise is null || _promise.IsCompleted;

    /// <summary>The result; only valid once <see cref="IsCompleted"/>.</summary>
    public T Result => _promise is null ? _result : _promise.Result;

    public static KTask<T> FromResult(T result) => new(result);

    public Awaiter GetAwaiter() => new(this);

    public readonly struct Awaiter : ICriticalNotifyCompletion
    {
        private readonly KTask<T> _task;

        internal Awaiter(KTask<T> task) => _task = task;

        public bool IsCompleted => _task.IsCompleted;

        public T GetResult() => _task.Result;

        public void OnCompleted(Action continuation) => _task._promise!.SetContinuation(continuation);

        public void UnsafeOnCompleted(Action continuation) => _task._promise!.SetContinuation(continuation);
    }
}

/// <summary>The non-generic form of <see cref="KTask{T}"/>.</summary>
[AsyncMethodBuilder(typeof(KTaskBuilder))]
public readonly struct KTask
{
    private readonly KPromise<Unit>? _promise;

    internal KTask(KPromise<Unit>? promise) => _promise = promise;

    public static KTask Completed => default;

    public bool IsCompleted => _promise is null || _promise.IsCompleted;

    public Awaiter GetAwaiter() => new(this);

    public readonly struct Awaiter : ICriticalNotifyCompletion
    {
        private readonly KTask _task;

        internal Awaiter(KTask task) => _task = task;

        public bool IsCompleted => _task.IsCompleted;

        public void GetResult()
        {
        }

        public void OnCompleted(Action continuation) => _task._promise!.SetContinuation(continuation);

        public void UnsafeOnCompleted(Action continuation) => _task._promise!.SetContinuation(continuation);
    }
}

/// <summary>The empty result of a <see cref="KTask"/>.</summary>
public readonly record struct Unit;

/// <summary>Completion cell of a suspended model function.</summary>
public abstract class KPromise<T>
{
    private Action? _continuation;
    private T _result = default!;

    public bool IsCompleted { get; private set; }

    public T Result => IsCompleted ? _result : throw new InvalidOperationException("model function has not completed");

    internal void SetContinuation(Action continuation)
    {
        if (_continuation is not null)
        {
            throw new InvalidOperationException("a model function was awaited twice");
        }

        _continuation = continuation;
    }

    internal void SetResult(T result)
    {
        _result = result;
        IsCompleted = true;
        var c = _continuation;
        _continuation = null;
        c?.Invoke();
    }
}

internal sealed class StateMachineBox<TStateMachine, T> : KPromise<T>
    where TStateMachine : IAsyncStateMachine
{
    public TStateMachine StateMachine = default!;

    public StateMachineBox() => MoveNextAction = () => StateMachine.MoveNext();

    public Action MoveNextAction { get; }
}

/// <summary>Async method builder for <see cref="KTask{T}"/>: runs inline, boxes only on the first real suspension.</summary>
public struct KTaskBuilder<T>
{
    private KPromise<T>? _box;
    private T _result;

    public static KTaskBuilder<T> Create() => default;

    public readonly KTask<T> Task => _box is null ? new KTask<T>(_result) : new KTask<T>(_box);

    internal readonly KPromise<T>? Promise => _box;

    public readonly void Start<TStateMachine>(ref TStateMachine stateMachine)
        where TStateMachine : IAsyncStateMachine => stateMachine.MoveNext();

    public readonly void SetStateMachine(IAsyncStateMachine stateMachine)
    {
    }

    public void SetResult(T result)
    {
        if (_box is null)
        {
            _result = result;
        }
        else
        {
            _box.SetResult(result);
        }
    }

    // A thrown exception is a bug in the model, never kernel behaviour: surface it where it happened.
    public readonly void SetException(Exception exception) => ExceptionDispatchInfo.Throw(exception);

    public void AwaitOnCompleted<TAwaiter, TStateMachine>(ref TAwaiter awaiter, ref TStateMachine stateMachine)
        where TAwaiter : INotifyCompletion
        where TStateMachine : IAsyncStateMachine => awaiter.OnCompleted(Box(ref stateMachine));

    public void AwaitUnsafeOnCompleted<TAwaiter, TStateMachine>(ref TAwaiter awaiter, ref TStateMachine stateMachine)
        where TAwaiter : ICriticalNotifyCompletion
        where TStateMachine : IAsyncStateMachine => awaiter.UnsafeOnCompleted(Box(ref stateMachine));

    private Action Box<TStateMachine>(ref TStateMachine stateMachine)
        where TStateMachine : IAsyncStateMachine
    {
        if (_box is StateMachineBox<TStateMachine, T> existing)
        {
            return existing.MoveNextAction;
        }

        var box = new StateMachineBox<TStateMachine, T>();
        _box = box; // set before the copy so the boxed builder points at its own box
        box.StateMachine = stateMachine;
        return box.MoveNextAction;
    }
}

/// <summary>Async method builder for <see cref="KTask"/>.</summary>
public struct KTaskBuilder
{
    private KTaskBuilder<Unit> _inner;

    public static KTaskBuilder Create() => default;

    public readonly KTask Task => new(_inner.Promise);

    public readonly void Start<TStateMachine>(ref TStateMachine stateMachine)
        where TStateMachine : IAsyncStateMachine => stateMachine.MoveNext();

    public readonly void SetStateMachine(IAsyncStateMachine stateMachine)
    {
    }

    public void SetResult() => _inner.SetResult(default);

    public readonly void SetException(Exception exception) => ExceptionDispatchInfo.Throw(exception);

    public void AwaitOnCompleted<TAwaiter, TStateMachine>(ref TAwaiter awaiter, ref TStateMachine stateMachine)
        where TAwaiter : INotifyCompletion
        where TStateMachine : IAsyncStateMachine => _inner.AwaitOnCompleted(ref awaiter, ref stateMachine);

    public void AwaitUnsafeOnCompleted<TAwaiter, TStateMachine>(ref TAwaiter awaiter, ref TStateMachine stateMachine)
        where TAwaiter : ICriticalNotifyCompletion
        where TStateMachine : IAsyncStateMachine => _inner.AwaitUnsafeOnCompleted(ref awaiter, ref stateMachine);
}
