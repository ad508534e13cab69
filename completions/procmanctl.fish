# fish completion for procmanctl (procman's client): verbs, each verb's options,
# signal names for `kill -s`, files for the verbs that read a config file, and
# process names from the running procmand (`procmanctl __complete-names`, on the
# bus and name given on the line).

# The words after `procmanctl` that are neither options nor option values.
function __procmanctl_words
    set -l tokens (commandline -opc)
    set -e tokens[1]
    set -l skip 0
    for t in $tokens
        if test $skip = 1
            set skip 0
            continue
        end
        switch $t
            case --bus-name -p --property -s --signal --whom -n --lines -m --message -c --config --fifo --name -e --env -C --work-dir --after --restart
                set skip 1
            case '-*'
            case '*'
                echo $t
        end
    end
end

function __procmanctl_no_verb
    test (count (__procmanctl_words)) -eq 0
end

# Whether the verb is one of $argv (and, for run, its command has not started).
function __procmanctl_verb_is
    set -l w (__procmanctl_words)
    test (count $w) -ge 1; or return 1
    if test "$w[1]" = run
        test (count $w) -eq 1; or return 1
    end
    contains -- $w[1] $argv
end

function __procmanctl_in_run_command
    set -l w (__procmanctl_words)
    test (count $w) -ge 2; and test "$w[1]" = run
end

function __procmanctl_fifo_needs_sub
    set -l w (__procmanctl_words)
    test (count $w) -eq 1; and test "$w[1]" = fifo
end

function __procmanctl_fifo_sub_is
    set -l w (__procmanctl_words)
    test (count $w) -ge 2; and test "$w[1]" = fifo; and contains -- $w[2] $argv
end

# The words that select procmand's bus, from the command line.
function __procmanctl_bus_args
    set -l tokens (commandline -opc)
    set -l n (count $tokens)
    for i in (seq 2 $n)
        switch $tokens[$i]
            case --system
                echo --system
            case --bus-name
                if test $i -lt $n
                    echo --bus-name
                    echo $tokens[(math $i + 1)]
                end
            case '--bus-name=*'
                echo $tokens[$i]
        end
    end
end

function __procmanctl_names
    set -l tokens (commandline -opc)
    command -q $tokens[1]; or return
    command $tokens[1] (__procmanctl_bus_args) __complete-names 2>/dev/null
end

complete -c procmanctl -f

# Global options, valid before or after the verb.
complete -c procmanctl -l user -d 'Talk to procmand on the session bus (default)'
complete -c procmanctl -l system -d 'Talk to procmand on the system bus'
complete -c procmanctl -l bus-name -x -a org.procman.Manager -d 'The bus name procmand owns'
complete -c procmanctl -s h -l help -d 'Show help and exit'
complete -c procmanctl -n __procmanctl_no_verb -l version -d 'Show the version and exit'

# Verbs.
complete -c procmanctl -n __procmanctl_no_verb -a check -d 'Validate a config file'
complete -c procmanctl -n __procmanctl_no_verb -a expand-templates -d 'Print a config with templates expanded'
complete -c procmanctl -n __procmanctl_no_verb -a gen-file -d 'Write a commented example config'
complete -c procmanctl -n __procmanctl_no_verb -a uid -d 'Print a new random uid'
complete -c procmanctl -n __procmanctl_no_verb -a status -d 'Show processes'
complete -c procmanctl -n __procmanctl_no_verb -a show -d 'Show every property of a process'
complete -c procmanctl -n __procmanctl_no_verb -a start -d 'Start processes'
complete -c procmanctl -n __procmanctl_no_verb -a stop -d 'Stop processes'
complete -c procmanctl -n __procmanctl_no_verb -a restart -d 'Restart processes'
complete -c procmanctl -n __procmanctl_no_verb -a kill -d 'Send a signal to processes'
complete -c procmanctl -n __procmanctl_no_verb -a reset-failed -d 'Forget failures and start limits'
complete -c procmanctl -n __procmanctl_no_verb -a remove -d 'Stop and forget transient processes'
complete -c procmanctl -n __procmanctl_no_verb -a run -d 'Run a command as a transient process'
complete -c procmanctl -n __procmanctl_no_verb -a logs -d 'Show the kept output of a process'
complete -c procmanctl -n __procmanctl_no_verb -a events -d 'Print state changes as they happen'
complete -c procmanctl -n __procmanctl_no_verb -a reload -d 'Re-read the config file'
complete -c procmanctl -n __procmanctl_no_verb -a shutdown -d 'Stop every process, then procmand'
complete -c procmanctl -n __procmanctl_no_verb -a fifo-path -d 'Print the FIFO path of a config'
complete -c procmanctl -n __procmanctl_no_verb -a fifo -d 'Send one FIFO protocol message'

# Arguments.
complete -c procmanctl -n '__procmanctl_verb_is check expand-templates gen-file fifo-path' -F
complete -c procmanctl -n '__procmanctl_verb_is status show start stop restart kill reset-failed remove logs' -a '(__procmanctl_names)'

complete -c procmanctl -n '__procmanctl_verb_is status events' -l json -d 'JSON output'
complete -c procmanctl -n '__procmanctl_verb_is show' -l json -d 'One JSON object'
complete -c procmanctl -n '__procmanctl_verb_is show' -l value -d 'Print values only'
complete -c procmanctl -n '__procmanctl_verb_is show' -s p -l property -x -d 'Only this property' -a 'Name Id Instance Transient State SubState StatusText Result FailureReason MainPID Command WorkingDirectory DependsOn Restart AdminGoal RestartPending NRestarts LastExitCode LastExitSignal StartTimestamp ExitTimestamp RunTimeUSec Health HealthDetail ApplyOn Schedule Cron NextChange EffectiveConfig Metadata CPUUsageNSec MemoryCurrent Version ConfigPath ConfigUid FifoPath StateDirectory ProcessCount Counts'
complete -c procmanctl -n '__procmanctl_verb_is start stop restart' -l no-block -d 'Return at once'
complete -c procmanctl -n '__procmanctl_verb_is kill' -s s -l signal -x -d 'Signal name or number' -a 'SIGHUP SIGINT SIGQUIT SIGILL SIGTRAP SIGABRT SIGBUS SIGFPE SIGKILL SIGUSR1 SIGSEGV SIGUSR2 SIGPIPE SIGALRM SIGTERM SIGSTKFLT SIGCHLD SIGCONT SIGSTOP SIGTSTP SIGTTIN SIGTTOU SIGURG SIGXCPU SIGXFSZ SIGVTALRM SIGPROF SIGWINCH SIGIO SIGPWR SIGSYS'
complete -c procmanctl -n '__procmanctl_verb_is kill' -l whom -x -a 'main group' -d 'Main process or whole group'

complete -c procmanctl -n '__procmanctl_verb_is run' -l name -x -d 'Its name'
complete -c procmanctl -n '__procmanctl_verb_is run' -l once -d 'Do not restart after a clean exit'
complete -c procmanctl -n '__procmanctl_verb_is run' -l unique -d 'Use NAME.1, NAME.2... when taken'
complete -c procmanctl -n '__procmanctl_verb_is run' -s e -l env -x -d 'Set an environment variable (K=V)'
complete -c procmanctl -n '__procmanctl_verb_is run' -s C -l work-dir -x -a '(__fish_complete_directories)' -d 'Working directory'
complete -c procmanctl -n '__procmanctl_verb_is run' -l after -x -a '(__procmanctl_names)' -d 'Start after this process runs'
complete -c procmanctl -n '__procmanctl_verb_is run' -l restart -x -a 'always on-failure no' -d 'Restart policy'
complete -c procmanctl -n '__procmanctl_verb_is run' -a '(__fish_complete_command)'
complete -c procmanctl -n __procmanctl_in_run_command -F

complete -c procmanctl -n '__procmanctl_verb_is logs' -s n -l lines -x -d 'Only the last N lines'
complete -c procmanctl -n '__procmanctl_verb_is logs' -s f -l follow -d 'Keep printing new lines'
complete -c procmanctl -n '__procmanctl_verb_is shutdown' -s m -l message -x -d 'Why (procmand logs it)'

# fifo and its messages.
complete -c procmanctl -n __procmanctl_fifo_needs_sub -a run -d 'Run a command as a new process'
complete -c procmanctl -n __procmanctl_fifo_needs_sub -a shutdown -d 'Stop every process and procmand'
complete -c procmanctl -n __procmanctl_fifo_needs_sub -a start -d 'Start a process'
complete -c procmanctl -n __procmanctl_fifo_needs_sub -a stop -d 'Stop a process'
complete -c procmanctl -n __procmanctl_fifo_needs_sub -a restart -d 'Restart a process'
complete -c procmanctl -n '__procmanctl_fifo_sub_is run shutdown start stop restart' -s c -l config -r -F -d 'The config whose procmand to talk to'
complete -c procmanctl -n '__procmanctl_fifo_sub_is run shutdown start stop restart' -l fifo -r -F -d 'Write to this FIFO'
complete -c procmanctl -n '__procmanctl_fifo_sub_is run' -l name -x -d 'Its name'
complete -c procmanctl -n '__procmanctl_fifo_sub_is run' -l once -d 'A one-shot task'
complete -c procmanctl -n '__procmanctl_fifo_sub_is run' -s e -l env -x -d 'Set an environment variable (K=V)'
complete -c procmanctl -n '__procmanctl_fifo_sub_is run' -a '(__fish_complete_command)'
complete -c procmanctl -n '__procmanctl_fifo_sub_is shutdown' -l message -x -d 'Why, for procmand\'s log'
complete -c procmanctl -n '__procmanctl_fifo_sub_is start stop restart' -a '(__procmanctl_names)'
