# bash completion for procmanctl (procman's client)            -*- shell-script -*-
#
# Verbs, each verb's options, signal names for `kill -s`, files for the verbs
# that read a config file, and process names from the running procmand
# (`procmanctl __complete-names`, on the bus and name given on the line).
# Self-contained: needs only bash, not the bash-completion package.

_procmanctl_verbs="check expand-templates gen-file uid status show start stop restart kill
reset-failed remove run logs events reload shutdown fifo-path fifo"
_procmanctl_global_opts="--user --system --bus-name --help --version"
_procmanctl_signals="SIGHUP SIGINT SIGQUIT SIGILL SIGTRAP SIGABRT SIGBUS SIGFPE SIGKILL SIGUSR1
SIGSEGV SIGUSR2 SIGPIPE SIGALRM SIGTERM SIGSTKFLT SIGCHLD SIGCONT SIGSTOP SIGTSTP SIGTTIN SIGTTOU
SIGURG SIGXCPU SIGXFSZ SIGVTALRM SIGPROF SIGWINCH SIGIO SIGPWR SIGSYS"
_procmanctl_properties="Name Id Instance Transient State SubState StatusText Result FailureReason
MainPID Command WorkingDirectory DependsOn Restart AdminGoal RestartPending NRestarts LastExitCode
LastExitSignal StartTimestamp ExitTimestamp RunTimeUSec Health HealthDetail ApplyOn Schedule Cron
NextChange EffectiveConfig Metadata CPUUsageNSec MemoryCurrent Version ConfigPath ConfigUid FifoPath
StateDirectory ProcessCount Counts"

# The options of one verb (global options are added by the caller).
_procmanctl_verb_opts() {
    case $1 in
        status) echo "--json" ;;
        show) echo "-p --property --value --json" ;;
        start | stop | restart) echo "--no-block" ;;
        kill) echo "-s --signal --whom" ;;
        run) echo "--name --once --unique -e --env -C --work-dir --after --restart" ;;
        logs) echo "-n --lines -f --follow" ;;
        events) echo "--json" ;;
        shutdown) echo "-m --message" ;;
        "fifo run") echo "-c --config --fifo --name --once -e --env" ;;
        "fifo shutdown") echo "-c --config --fifo --message" ;;
        "fifo start" | "fifo stop" | "fifo restart") echo "-c --config --fifo" ;;
    esac
}

# Process names, asked of procmand on the bus named on the line.
_procmanctl_names() {
    local -a bus=()
    local i w
    for ((i = 1; i < ${#COMP_WORDS[@]}; i++)); do
        w=${COMP_WORDS[i]}
        case $w in
            --system) bus+=(--system) ;;
            --bus-name) bus+=(--bus-name "${COMP_WORDS[i + 1]}") ;;
            --bus-name=*) bus+=("$w") ;;
        esac
    done
    command "${COMP_WORDS[0]}" "${bus[@]}" __complete-names 2>/dev/null
}

_procmanctl_files() {
    compopt -o filenames 2>/dev/null
    COMPREPLY=($(compgen -f -- "$1"))
}

_procmanctl() {
    local cur=${COMP_WORDS[COMP_CWORD]} prev=
    ((COMP_CWORD > 0)) && prev=${COMP_WORDS[COMP_CWORD - 1]}
    COMPREPLY=()
    local IFS=$' \t\n'

    # The verb, fifo's sub-verb, and where run's command starts.
    local i w verb= sub= cmd_start=0
    for ((i = 1; i < COMP_CWORD; i++)); do
        w=${COMP_WORDS[i]}
        if [[ $verb == run ]]; then
            case $w in
                --) cmd_start=$((i + 1)); break ;;
                --name | -e | --env | -C | --work-dir | --after | --restart | --bus-name) ((i++)) ;;
                -*) ;;
                *) cmd_start=$i; break ;;
            esac
            continue
        fi
        case $w in
            --bus-name | -p | --property | -s | --signal | --whom | -n | --lines | -m | --message | \
                -c | --config | --fifo | --name | -e | --env)
                ((i++)) ;;
            -*) ;;
            *)
                if [[ -z $verb ]]; then
                    verb=$w
                elif [[ $verb == fifo && -z $sub ]]; then
                    sub=$w
                fi
                ;;
        esac
    done

    if ((cmd_start > 0)); then
        # Inside run's command: a program first, then files.
        if ((COMP_CWORD == cmd_start)); then
            COMPREPLY=($(compgen -c -- "$cur"))
        else
            _procmanctl_files "$cur"
        fi
        return 0
    fi

    case $prev in
        --bus-name | -e | --env | --name | -m | --message | -n | --lines)
            return 0 ;;
        -s | --signal)
            COMPREPLY=($(compgen -W "$_procmanctl_signals" -- "$cur"))
            return 0 ;;
        --whom)
            COMPREPLY=($(compgen -W "main group" -- "$cur"))
            return 0 ;;
        --restart)
            COMPREPLY=($(compgen -W "always on-failure no" -- "$cur"))
            return 0 ;;
        -C | --work-dir)
            compopt -o filenames 2>/dev/null
            COMPREPLY=($(compgen -d -- "$cur"))
            return 0 ;;
        -c | --config | --fifo)
            _procmanctl_files "$cur"
            return 0 ;;
        -p | --property)
            COMPREPLY=($(compgen -W "$_procmanctl_properties" -- "$cur"))
            return 0 ;;
        --after)
            COMPREPLY=($(compgen -W "$(_procmanctl_names)" -- "$cur"))
            return 0 ;;
    esac

    if [[ $cur == -* ]]; then
        local key=$verb
        [[ -n $sub ]] && key="$verb $sub"
        COMPREPLY=($(compgen -W "$(_procmanctl_verb_opts "$key") $_procmanctl_global_opts" -- "$cur"))
        return 0
    fi

    case $verb in
        "")
            COMPREPLY=($(compgen -W "$_procmanctl_verbs" -- "$cur")) ;;
        check | expand-templates | gen-file | fifo-path)
            _procmanctl_files "$cur" ;;
        status | show | start | stop | restart | kill | reset-failed | remove | logs)
            COMPREPLY=($(compgen -W "$(_procmanctl_names)" -- "$cur")) ;;
        fifo)
            case $sub in
                "") COMPREPLY=($(compgen -W "run shutdown start stop restart" -- "$cur")) ;;
                run) COMPREPLY=($(compgen -c -- "$cur")) ;;
                start | stop | restart) COMPREPLY=($(compgen -W "$(_procmanctl_names)" -- "$cur")) ;;
            esac
            ;;
        run)
            COMPREPLY=($(compgen -c -- "$cur")) ;;
    esac
    return 0
}

complete -F _procmanctl procmanctl
