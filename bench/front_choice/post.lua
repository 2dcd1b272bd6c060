-- wrk script for bench/front_choice.sh: the same small JSON POST on every request.
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"v":1,"type":"activation","report_id":"00000000000000000000000000000001",' ..
    '"imei":"352099001761481","brand":"acme-eu","model":"K400","sw":"K400_1.2.0",' ..
    '"country":"FR","day":"2026-11-20"}'
