// Every generated form (admin/form_display.py): date-times picked to the minute
// ("2026-11-01 07:00"). Persian readers type the Solar Hijri date instead, so their inputs
// carry no Gregorian picker.
(function () {
  "use strict";
  if (window.flatpickr) {
    document.querySelectorAll('input[data-role="datetimepicker-minutes"]:not([readonly])')
      .forEach(function (input) {
        window.flatpickr(input, {
          enableTime: true, enableSeconds: false, time_24hr: true, allowInput: true,
          dateFormat: "Y-m-d H:i"
        });
      });
  }

})();
